/* A non-Python consumer of convgrad's conformance vectors: reads a JSON vector set, computes
 * y, grad_input, grad_weight and grad_bias of every case with plain loops in double, and writes
 * one results file per case for `convgrad vectors check`.
 *
 *   convgrad vectors export vectors --format json
 *   cc -O2 -std=c99 -o vectors_c vectors_c.c
 *   ./vectors_c vectors results && convgrad vectors check vectors --results results
 *
 * The convolution is written for 3 spatial dims; a 1-D or 2-D case is the same loops with
 * leading size-1 dims (kernel 1, no pad, stride 1, dilation 1). Padding modes pick the input
 * entry each pad copies; a conv_transpose case runs the same loops as the adjoint. The JSON reader handles exactly
 * what the vector files use: objects, arrays, numbers, strings, true/false/null.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct Json {
    int type, n;
    double num;
    char *str;
    char **keys;
    struct Json **items;
} Json;

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "vectors_c: %s %s\n", what, detail ? detail : "");
    exit(2);
}

static const char *skip(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
    return p;
}

static Json *parse(const char **pp);

static char *parse_string(const char **pp) {
    const char *p = *pp + 1;
    char *out = malloc(strlen(p) + 1), *q = out;
    while (*p && *p != '"') {
        if (*p == '\\') {
            p++;
            if (*p == 'u') { *q++ = '?'; p += 4; }
            else *q++ = (*p == 'n') ? '\n' : (*p == 't') ? '\t' : *p;
            p++;
        } else {
            *q++ = *p++;
        }
    }
    if (*p != '"') fail("unterminated string", NULL);
    *q = 0;
    *pp = p + 1;
    return out;
}

static void push(Json *j, char *key, Json *item) {
    j->keys = realloc(j->keys, (j->n + 1) * sizeof *j->keys);
    j->items = realloc(j->items, (j->n + 1) * sizeof *j->items);
    j->keys[j->n] = key;
    j->items[j->n++] = item;
}

static Json *parse(const char **pp) {
    const char *p = skip(*pp);
    Json *j = calloc(1, sizeof *j);
    if (*p == '{' || *p == '[') {
        char close = (*p == '{') ? '}' : ']';
        j->type = (*p == '{') ? J_OBJ : J_ARR;
        p = skip(p + 1);
        while (*p != close) {
            char *key = NULL;
            if (j->type == J_OBJ) {
                key = parse_string(&p);
                p = skip(p);
                if (*p++ != ':') fail("expected ':' after", key);
            }
            push(j, key, parse(&p));
            p = skip(p);
            if (*p == ',') p = skip(p + 1);
            else if (*p != close) fail("expected ',' or a closing bracket", NULL);
        }
        p++;
    } else if (*p == '"') {
        j->type = J_STR;
        j->str = parse_string(&p);
    } else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
        j->type = J_BOOL;
        j->num = (*p == 't');
        p += (*p == 't') ? 4 : 5;
    } else if (!strncmp(p, "null", 4)) {
        p += 4;
    } else {
        char *end;
        j->type = J_NUM;
        j->num = strtod(p, &end);
        if (end == p) fail("bad JSON at", p);
        p = end;
    }
    *pp = p;
    return j;
}

static Json *get(const Json *j, const char *key) {
    for (int i = 0; i < j->n; i++)
        if (j->keys && j->keys[i] && !strcmp(j->keys[i], key)) return j->items[i];
    return NULL;
}

static Json *need(const Json *j, const char *key) {
    Json *v = get(j, key);
    if (!v) fail("missing key", key);
    return v;
}

static Json *read_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail("cannot open", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *text = malloc(size + 1);
    if (fread(text, 1, size, f) != (size_t)size) fail("cannot read", path);
    text[size] = 0;
    fclose(f);
    const char *p = text;
    return parse(&p);
}

typedef struct {
    int ndim, shape[5];
    long size;
    double *data;
} Array;

static Array array_of(const Json *arrays, const char *name) {
    Array a = {0};
    Json *entry = need(arrays, name), *shape = need(entry, "shape"), *data = need(entry, "data");
    a.ndim = shape->n;
    a.size = 1;
    for (int i = 0; i < a.ndim; i++) a.size *= (a.shape[i] = (int)shape->items[i]->num);
    a.data = malloc((a.size ? a.size : 1) * sizeof(double));
    for (long i = 0; i < a.size; i++) a.data[i] = data->items[i]->num;
    return a;
}

static Array zeros_like(const int *shape, int ndim) {
    Array a = {ndim, {0}, 1, NULL};
    for (int i = 0; i < ndim; i++) a.size *= (a.shape[i] = shape[i]);
    a.data = calloc(a.size, sizeof(double));
    return a;
}

/* Spatial sizes as 3 dims: the real ones last, size-1 dims in front. */
static void spatial3(const Array *a, int *out) {
    int nd = a->ndim - 2;
    for (int i = 0; i < 3; i++) out[i] = (i < 3 - nd) ? 1 : a->shape[2 + i - (3 - nd)];
}

static void ints3(const Json *list, int fill, int *out, int column) {
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - list->n);
        const Json *item = (j < 0) ? NULL : list->items[j];
        out[i] = !item ? fill : (column < 0 ? (int)item->num : (int)item->items[column]->num);
    }
}

#define AT(S, a, b, c) ((((a) * (S)[1]) + (b)) * (S)[2] + (c))

enum { PAD_ZEROS, PAD_REFLECT, PAD_REPLICATE, PAD_CIRCULAR };

typedef struct { int lo[3], st[3], dl[3], groups, flip, mode; } Conv;

/* The input index that padded position i copies along a dim of size n; -1 for a zero pad. */
static int source(int i, int n, int mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case PAD_REFLECT: return i < 0 ? -i : 2 * (n - 1) - i;
    case PAD_REPLICATE: return i < 0 ? 0 : n - 1;
    case PAD_CIRCULAR: return ((i % n) + n) % n;
    default: return -1;
    }
}

/* y = conv(x, w) without bias, and the gradients of sum(gy * y) added into gx and gw (zeroed by
 * the caller). A pad that copies an input entry sends its gradient to that entry. */
static void conv_loops(const Conv *cv, const Array *x, const Array *w, const Array *gy, Array *y,
                       Array *gx, Array *gw) {
    int S[3], K[3], O[3];
    spatial3(x, S); spatial3(w, K); spatial3(gy, O);
    int N = x->shape[0], Cin = x->shape[1], Cout = w->shape[0], Cg = w->shape[1];
    long xs = (long)S[0] * S[1] * S[2], ks = (long)K[0] * K[1] * K[2], os = (long)O[0] * O[1] * O[2];
    for (int n = 0; n < N; n++)
    for (int o = 0; o < Cout; o++) {
        int g = o / (Cout / cv->groups);
        for (int p0 = 0; p0 < O[0]; p0++) for (int p1 = 0; p1 < O[1]; p1++) for (int p2 = 0; p2 < O[2]; p2++) {
            long yi = ((long)n * Cout + o) * os + AT(O, p0, p1, p2);
            double acc = 0.0, grad = gy->data[yi];
            for (int c = 0; c < Cg; c++)
            for (int k0 = 0; k0 < K[0]; k0++) for (int k1 = 0; k1 < K[1]; k1++) for (int k2 = 0; k2 < K[2]; k2++) {
                int i0 = source(p0 * cv->st[0] + k0 * cv->dl[0] - cv->lo[0], S[0], cv->mode);
                int i1 = source(p1 * cv->st[1] + k1 * cv->dl[1] - cv->lo[1], S[1], cv->mode);
                int i2 = source(p2 * cv->st[2] + k2 * cv->dl[2] - cv->lo[2], S[2], cv->mode);
                if (i0 < 0 || i1 < 0 || i2 < 0) continue;
                long wi = ((long)o * Cg + c) * ks + (cv->flip ? AT(K, K[0] - 1 - k0, K[1] - 1 - k1, K[2] - 1 - k2)
                                                              : AT(K, k0, k1, k2));
                long xi = ((long)n * Cin + g * Cg + c) * xs + AT(S, i0, i1, i2);
                acc += w->data[wi] * x->data[xi];
                gx->data[xi] += w->data[wi] * grad;
                gw->data[wi] += x->data[xi] * grad;
            }
            y->data[yi] = acc;
        }
    }
}

static void run_case(const Json *spec, const Json *arrays, Array out[4]) {
    Array x = array_of(arrays, "x"), w = array_of(arrays, "w"), gy = array_of(arrays, "grad_y");
    Json *bj = get(arrays, "b"), *op = get(spec, "op"), *pm = get(spec, "padding_mode");
    Array b = bj ? array_of(arrays, "b") : (Array){0};
    Conv cv;
    ints3(need(spec, "padding"), 0, cv.lo, 0);
    ints3(need(spec, "stride"), 1, cv.st, -1);
    ints3(need(spec, "dilation"), 1, cv.dl, -1);
    cv.groups = (int)need(spec, "groups")->num;
    cv.flip = (int)need(spec, "flip")->num;
    cv.mode = !pm ? PAD_ZEROS : !strcmp(pm->str, "reflect") ? PAD_REFLECT
            : !strcmp(pm->str, "replicate") ? PAD_REPLICATE : !strcmp(pm->str, "circular") ? PAD_CIRCULAR
            : PAD_ZEROS;
    /* A conv_transpose case is the adjoint of the conv its spec describes: that conv's input is
     * the case's grad_y and its output gradient the case's x, so the conv's input gradient is
     * the case's y and the conv's output the case's grad_input. */
    int transposed = op && !strcmp(op->str, "conv_transpose");
    const Array *cx = transposed ? &gy : &x, *cgy = transposed ? &x : &gy;
    Array cy = zeros_like(cgy->shape, cgy->ndim), cgx = zeros_like(cx->shape, cx->ndim);
    out[2] = zeros_like(w.shape, w.ndim);
    conv_loops(&cv, cx, &w, cgy, &cy, &cgx, &out[2]);
    out[0] = transposed ? cgx : cy;
    out[1] = transposed ? cy : cgx;
    /* grad_bias: grad_y summed over batch and space; y's channels are grad_y's. */
    int C = gy.shape[1];
    long gs = gy.size / ((long)gy.shape[0] * C);
    out[3] = zeros_like(&gy.shape[1], 1);
    for (long i = 0; i < gy.size; i++) {
        int ch = (int)((i / gs) % C);
        out[3].data[ch] += gy.data[i];
        if (bj) out[0].data[i] += b.data[ch];
    }
}

static void write_array(FILE *f, const char *name, const Array *a, int last) {
    fprintf(f, "\"%s\": {\"shape\": [", name);
    for (int i = 0; i < a->ndim; i++) fprintf(f, i ? ", %d" : "%d", a->shape[i]);
    fprintf(f, "], \"data\": [");
    for (long i = 0; i < a->size; i++) fprintf(f, i ? ", %.17g" : "%.17g", a->data[i]);
    fprintf(f, "]}%s\n", last ? "" : ",");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s VECTORS_DIR RESULTS_DIR (a JSON vector set)\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", argv[1]);
    Json *manifest = read_json(path), *cases = need(manifest, "cases");
    if (strcmp(need(manifest, "file_format")->str, "json"))
        fail("needs a JSON vector set: convgrad vectors export DIR --format json", NULL);
    static const char *names[4] = {"y", "grad_input", "grad_weight", "grad_bias"};
    for (int i = 0; i < cases->n; i++) {
        const Json *entry = cases->items[i];
        snprintf(path, sizeof path, "%s/%s", argv[1], need(entry, "file")->str);
        Array out[4];
        run_case(need(entry, "spec"), need(read_json(path), "arrays"), out);
        snprintf(path, sizeof path, "%s/%s.json", argv[2], need(entry, "id")->str);
        FILE *f = fopen(path, "w");
        if (!f) fail("cannot write", path);
        fprintf(f, "{\"arrays\": {\n");
        for (int k = 0; k < 4; k++) write_array(f, names[k], &out[k], k == 3);
        fprintf(f, "}}\n");
        fclose(f);
    }
    printf("wrote %d results to %s\n", cases->n, argv[2]);
    return 0;
}
