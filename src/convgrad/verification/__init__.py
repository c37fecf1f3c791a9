"""The verification engine: a user's convolution checked against the oracle.

Modules, in pipeline order:

- `problem`: `ConvProblem`, one layer with data, the unit every check runs on.
- `numeric`: integer-valuedness and random directions for the derivative checks.
- `integers`: integer data with a declared accumulator: the value range that keeps every sum
  in it, and the wrong integer arithmetics (a narrower accumulator, a signedness slip, float
  sums) named.
- `bounds`: every tolerance, elementwise (Higham's gamma_n) and for the scalar identities
  (adjoint, finite differences, linearity), each with its derivation.
- `calls`: calling the user's functions (copies, timeouts, mutation record, result unpacking).
- `isolation`: the user's functions in a child process (crashes, killable timeouts).
- `checks`: one pure function per check, each returning a `CheckResult`.
- `runner`: every check on one problem (`ProblemChecks`, `judge_outputs`).
- `state`: results kept and re-compared after later calls; backward after a forward on other
  data (aliased workspaces, stale caches).
- `layout`: the problem passed in another memory layout (Fortran, strided, negative-stride,
  read-only).
- `space`: `DEFAULT_SPACE`, the problems verify, the strategies, the CLI and the plugin draw.
- `sizes`: realistic sizes within a cost budget (`sizes=`, `max_*`).
- `layers`: a table of real networks' layers in benchdnn's batch-file syntax.
- `ladder`: fixed canonical, boundary and layer problems checked before the search, shrunk
  greedily.
- `probe`: the capability probe, each feature of the space tried once before the search.
- `search`: hypothesis draws problems and shrinks each failure to a minimal one.
- `reproducible`: the search independent of the modules loaded (hypothesis' local constants).
- `patterns`: which elements of a wrong output differ, and in which pattern (facts, no cause).
- `diagnosis`: why a check failed, in words a learner can act on; a cause only when it
  reproduces the output on the minimal problem and on a larger one.
- `source`: where the user's functions live (for snippets that import them).
- `causes`: failures grouped by root cause.
- `result`: `Failure`, `VerifyResult`, reproduce snippets.
- `api`: `verify` and `check_outputs`.
- `transposed`: `verify_transpose`, a transposed convolution checked as its conv's adjoint.
"""
