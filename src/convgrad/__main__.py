"""``python -m convgrad``: the command line."""

import os
import sys

from convgrad.cli import main

if __name__ == "__main__":
    # ``-m`` put the current directory first on sys.path; convgrad's own later imports (Jinja2
    # for --html) must not find a file there. `convgrad.commands.verify.load_callable` puts it
    # back while it imports the user's module, as the console script's run does.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    sys.exit(main())
