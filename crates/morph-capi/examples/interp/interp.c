/*
 * A small Lisp interpreter adopting Morph Memory step by step, as the seed
 * design's migration section describes (see README.md next to this file).
 *
 *   Step 1 — compatibility layer. The interpreter's allocation call sites
 *            were written against the V1 API, `mph_alloc(ctx, size, type)`.
 *            They are unchanged: with morph_mem_v2.h, `mph_alloc` is the
 *            macro that calls morph_alloc_v2(..., MORPH_ALLOC_DEFAULT).
 *   Step 2 — gradual adoption. A runtime flag picks the allocator:
 *            MORPH_MEM_V2 set → Morph Memory; unset → the V1 allocator
 *            (malloc, freed only at exit). Both run the same interpreter.
 *   Step 3 — feature-flag rollout by mode. MORPH_MEM_MODE=compiler runs V2
 *            with the arena only (nothing is collected: the V1 behaviour,
 *            minus malloc); the default, runtime mode, turns the collector
 *            on. What the collector needs from the interpreter is already
 *            here and costs nothing under V1: every object a C function
 *            holds across an allocation sits in a shadow-stack frame
 *            (push_roots/pop_roots), globals are global roots, and every
 *            store of an object into another goes through store() (the
 *            inline write barrier). MORPH_GC_STRESS=N collects every N
 *            allocations to prove it.
 *
 * Build and run: see README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "morph_mem_v2.h"

/* ---- Objects ----------------------------------------------------------- */

enum { T_INT, T_SYM, T_CONS, T_CLOSURE, T_PRIM };

typedef struct Obj {
    int64_t tag;
} Obj;

typedef struct Int {
    int64_t tag;
    int64_t value;
} Int;

typedef struct Sym {
    int64_t tag;
    char name[24];
} Sym;

typedef struct Cons {
    int64_t tag;
    Obj *car;
    Obj *cdr;
} Cons;

typedef struct Closure {
    int64_t tag;
    Obj *params;
    Obj *body;
    Obj *env;
} Closure;

typedef struct Prim {
    int64_t tag;
    int64_t op;
} Prim;

/* ---- The allocator switch (steps 1 and 2) ------------------------------ */

typedef struct Runtime {
    int v2;                     /* step 2: MORPH_MEM_V2 */
    MorphContext *ctx;          /* the V2 context (the V1 API's `ctx`) */
    const MorphTypeInfo *types[5];
    void **v1_blocks;           /* V1: every allocation, freed at exit */
    size_t v1_count, v1_capacity;
} Runtime;

static Runtime rt;

static void die(const char *what) {
    fprintf(stderr, "interp: %s (%s)\n", what, rt.v2 ? morph_last_error_message() : "V1");
    exit(1);
}

static void check(MorphStatus status) {
    if (status != MORPH_OK) {
        die(morph_status_message(status));
    }
}

/* The V1 allocator: zeroed malloc, kept until exit. */
static void *v1_alloc(size_t size) {
    if (rt.v1_count == rt.v1_capacity) {
        rt.v1_capacity = rt.v1_capacity ? 2 * rt.v1_capacity : 1024;
        rt.v1_blocks = (void **)realloc(rt.v1_blocks, rt.v1_capacity * sizeof(void *));
        if (rt.v1_blocks == NULL) {
            die("out of memory");
        }
    }
    void *block = calloc(1, size);
    if (block == NULL) {
        die("out of memory");
    }
    rt.v1_blocks[rt.v1_count++] = block;
    return block;
}

/* Every allocation of the interpreter: the V1 call site, unchanged (step 1). */
static Obj *alloc_obj(int tag, size_t size) {
    Obj *obj = rt.v2 ? (Obj *)mph_alloc(rt.ctx, size, rt.types[tag]) : (Obj *)v1_alloc(size);
    if (obj == NULL) {
        die("allocation failed");
    }
    obj->tag = tag;
    return obj;
}

/* Roots and barrier (step 3): no-ops under V1. */
static void push_roots(MorphFrame *frame, void **slots, size_t count) {
    if (rt.v2) {
        check(morph_frame_push(rt.ctx, frame, slots, count));
    }
}

static void pop_roots(MorphFrame *frame) {
    if (rt.v2) {
        check(morph_frame_pop(rt.ctx, frame));
    }
}

static void store(void *owner, Obj **field, Obj *value) {
    *field = value;
    if (rt.v2) {
        morph_write_barrier_inline(rt.ctx, owner, value);
    }
}

/* ---- Constructors: each roots its arguments across its allocation ------ */

static Obj *make_int(int64_t value) {
    Int *i = (Int *)alloc_obj(T_INT, sizeof(Int));
    i->value = value;
    return (Obj *)i;
}

static Obj *cons(Obj *car, Obj *cdr) {
    void *r[2] = {car, cdr};
    MorphFrame frame;
    push_roots(&frame, r, 2);
    Cons *c = (Cons *)alloc_obj(T_CONS, sizeof(Cons)); /* may move r[0], r[1] */
    store(c, &c->car, (Obj *)r[0]);
    store(c, &c->cdr, (Obj *)r[1]);
    pop_roots(&frame);
    return (Obj *)c;
}

static Obj *make_closure(Obj *params, Obj *body, Obj *env) {
    void *r[3] = {params, body, env};
    MorphFrame frame;
    push_roots(&frame, r, 3);
    Closure *c = (Closure *)alloc_obj(T_CLOSURE, sizeof(Closure));
    store(c, &c->params, (Obj *)r[0]);
    store(c, &c->body, (Obj *)r[1]);
    store(c, &c->env, (Obj *)r[2]);
    pop_roots(&frame);
    return (Obj *)c;
}

static Obj *car(Obj *o) { return o && o->tag == T_CONS ? ((Cons *)o)->car : NULL; }
static Obj *cdr(Obj *o) { return o && o->tag == T_CONS ? ((Cons *)o)->cdr : NULL; }

/* Globals are global roots: the symbol table and the global environment. */
static void *symbols;
static void *globals;

static Obj *intern(const char *name, size_t length) {
    for (Obj *s = (Obj *)symbols; s != NULL; s = cdr(s)) {
        Sym *sym = (Sym *)car(s);
        if (strlen(sym->name) == length && memcmp(sym->name, name, length) == 0) {
            return (Obj *)sym;
        }
    }
    if (length >= sizeof(((Sym *)0)->name)) {
        die("symbol too long");
    }
    /* Symbols live as long as the program: pretenured. */
    Sym *sym = rt.v2 ? (Sym *)morph_alloc_v2(rt.ctx, sizeof(Sym), rt.types[T_SYM],
                                             MORPH_ALLOC_TENURED)
                     : (Sym *)v1_alloc(sizeof(Sym));
    if (sym == NULL) {
        die("allocation failed");
    }
    sym->tag = T_SYM;
    memcpy(sym->name, name, length);
    symbols = cons((Obj *)sym, (Obj *)symbols);
    return car((Obj *)symbols);
}

static int is_sym(Obj *o, const char *name) {
    return o && o->tag == T_SYM && strcmp(((Sym *)o)->name, name) == 0;
}

/* ---- Reader ------------------------------------------------------------ */

static const char *src;

static void skip_space(void) {
    while (*src == ' ' || *src == '\n' || *src == '\t' || *src == ';') {
        if (*src == ';') {
            while (*src && *src != '\n') {
                src++;
            }
        } else {
            src++;
        }
    }
}

static Obj *read_expr(void);

static Obj *read_list(void) {
    /* r[0]: the list read so far, reversed; r[1]: the next element. */
    void *r[2] = {NULL, NULL};
    MorphFrame frame;
    push_roots(&frame, r, 2);
    for (;;) {
        skip_space();
        if (*src == ')' || *src == '\0') {
            if (*src) {
                src++;
            }
            break;
        }
        r[1] = read_expr();
        r[0] = cons((Obj *)r[1], (Obj *)r[0]);
    }
    /* Reverse in place: stores, so through the barrier. */
    Obj *list = NULL;
    Obj *rest = (Obj *)r[0];
    while (rest != NULL) {
        Obj *next = cdr(rest);
        store(rest, &((Cons *)rest)->cdr, list);
        list = rest;
        rest = next;
    }
    pop_roots(&frame);
    return list;
}

static Obj *read_expr(void) {
    skip_space();
    if (*src == '(') {
        src++;
        return read_list();
    }
    if (*src == '\'') {
        src++;
        void *r[1] = {read_expr()};
        MorphFrame frame;
        push_roots(&frame, r, 1);
        r[0] = cons((Obj *)r[0], NULL);
        /* Allocate before reading r[0]: an argument list's order of
         * evaluation is unspecified, and intern may collect. Symbols are
         * tenured, so `quote` itself never moves. */
        Obj *quote = intern("quote", 5);
        Obj *quoted = cons(quote, (Obj *)r[0]);
        pop_roots(&frame);
        return quoted;
    }
    const char *start = src;
    while (*src && *src != ' ' && *src != '\n' && *src != '(' && *src != ')') {
        src++;
    }
    char *end = NULL;
    long long value = strtoll(start, &end, 10);
    if (end == src && src > start) {
        return make_int(value);
    }
    return intern(start, (size_t)(src - start));
}

/* ---- Evaluator --------------------------------------------------------- */

enum { P_ADD, P_SUB, P_MUL, P_LT, P_EQ, P_CONS, P_CAR, P_CDR, P_NULL, P_LIST };
static const char *prim_names[] = {"+", "-", "*", "<", "=", "cons", "car", "cdr", "null?", "list"};

static int64_t int_of(Obj *o) {
    if (o == NULL || o->tag != T_INT) {
        die("not a number");
    }
    return ((Int *)o)->value;
}

static Obj *lookup(Obj *sym, Obj *env) {
    for (Obj *scope = env; scope != NULL; scope = cdr(scope)) {
        if (car(car(scope)) == sym) {
            return cdr(car(scope));
        }
    }
    for (Obj *scope = (Obj *)globals; scope != NULL; scope = cdr(scope)) {
        if (car(car(scope)) == sym) {
            return cdr(car(scope));
        }
    }
    fprintf(stderr, "unbound symbol %s\n", ((Sym *)sym)->name);
    exit(1);
}

static Obj *eval(Obj *expr, Obj *env);

static Obj *apply_prim(int64_t op, Obj *args) {
    Obj *a = car(args);
    Obj *b = car(cdr(args));
    switch (op) {
    case P_ADD: return make_int(int_of(a) + int_of(b));
    case P_SUB: return make_int(int_of(a) - int_of(b));
    case P_MUL: return make_int(int_of(a) * int_of(b));
    case P_LT: return make_int(int_of(a) < int_of(b));
    case P_EQ: return make_int(int_of(a) == int_of(b));
    case P_CONS: return cons(a, b);
    case P_CAR: return car(a);
    case P_CDR: return cdr(a);
    case P_NULL: return make_int(a == NULL);
    default: return args; /* P_LIST */
    }
}

/* Slots of one evaluation's frame. */
enum { EXPR, ENV, OP, ARGS, REST, VAL, SLOTS };

static Obj *eval_body(void **r) {
    /* r[REST]: the forms left; the value of the last one is the result. */
    Obj *result = NULL;
    while (r[REST] != NULL) {
        result = eval(car((Obj *)r[REST]), (Obj *)r[ENV]);
        r[REST] = cdr((Obj *)r[REST]);
    }
    return result;
}

static Obj *eval_in(void **r) {
    Obj *expr = (Obj *)r[EXPR];
    if (expr == NULL || expr->tag == T_INT || expr->tag == T_CLOSURE || expr->tag == T_PRIM) {
        return expr;
    }
    if (expr->tag == T_SYM) {
        return lookup(expr, (Obj *)r[ENV]);
    }
    Obj *head = car(expr);
    if (is_sym(head, "quote")) {
        return car(cdr(expr));
    }
    if (is_sym(head, "if")) {
        r[VAL] = eval(car(cdr(expr)), (Obj *)r[ENV]);
        Obj *test = (Obj *)r[VAL];
        int truthy = test != NULL && !(test->tag == T_INT && ((Int *)test)->value == 0);
        Obj *branch = truthy ? car(cdr(cdr((Obj *)r[EXPR]))) : car(cdr(cdr(cdr((Obj *)r[EXPR]))));
        return eval(branch, (Obj *)r[ENV]);
    }
    if (is_sym(head, "lambda")) {
        return make_closure(car(cdr(expr)), cdr(cdr(expr)), (Obj *)r[ENV]);
    }
    if (is_sym(head, "define")) {
        Obj *target = car(cdr(expr));
        if (target != NULL && target->tag == T_CONS) { /* (define (f args) body...) */
            r[VAL] = make_closure(cdr(target), cdr(cdr(expr)), (Obj *)r[ENV]);
            target = car(car(cdr((Obj *)r[EXPR])));
        } else {
            r[VAL] = eval(car(cdr(cdr(expr))), (Obj *)r[ENV]);
            target = car(cdr((Obj *)r[EXPR]));
        }
        r[OP] = cons(target, (Obj *)r[VAL]);
        globals = cons((Obj *)r[OP], (Obj *)globals);
        return (Obj *)r[VAL];
    }
    /* Application: the operator, then the arguments, in order. */
    r[OP] = eval(head, (Obj *)r[ENV]);
    r[REST] = cdr((Obj *)r[EXPR]);
    r[ARGS] = NULL;
    while (r[REST] != NULL) {
        r[VAL] = eval(car((Obj *)r[REST]), (Obj *)r[ENV]);
        r[ARGS] = cons((Obj *)r[VAL], (Obj *)r[ARGS]);
        r[REST] = cdr((Obj *)r[REST]);
    }
    Obj *list = NULL;
    Obj *rest = (Obj *)r[ARGS];
    while (rest != NULL) {
        Obj *next = cdr(rest);
        store(rest, &((Cons *)rest)->cdr, list);
        list = rest;
        rest = next;
    }
    r[ARGS] = list;
    Obj *op = (Obj *)r[OP];
    if (op != NULL && op->tag == T_PRIM) {
        return apply_prim(((Prim *)op)->op, (Obj *)r[ARGS]);
    }
    if (op == NULL || op->tag != T_CLOSURE) {
        die("not a function");
    }
    /* Bind the parameters in a new environment on top of the closure's. */
    r[ENV] = ((Closure *)op)->env;
    r[REST] = ((Closure *)op)->params;
    while (r[REST] != NULL) {
        r[VAL] = cons(car((Obj *)r[REST]), car((Obj *)r[ARGS]));
        r[ENV] = cons((Obj *)r[VAL], (Obj *)r[ENV]);
        r[REST] = cdr((Obj *)r[REST]);
        r[ARGS] = cdr((Obj *)r[ARGS]);
    }
    r[REST] = ((Closure *)r[OP])->body;
    return eval_body(r);
}

static Obj *eval(Obj *expr, Obj *env) {
    void *r[SLOTS] = {expr, env, NULL, NULL, NULL, NULL};
    MorphFrame frame;
    push_roots(&frame, r, SLOTS);
    Obj *result = eval_in(r);
    pop_roots(&frame);
    return result; /* unrooted: the caller stores it in a root slot at once */
}

static void print(Obj *o) {
    if (o == NULL) {
        printf("()");
    } else if (o->tag == T_INT) {
        printf("%lld", (long long)((Int *)o)->value);
    } else if (o->tag == T_SYM) {
        printf("%s", ((Sym *)o)->name);
    } else if (o->tag == T_CONS) {
        printf("(");
        for (int first = 1; o != NULL; o = cdr(o), first = 0) {
            fputs(first ? "" : " ", stdout);
            print(car(o));
        }
        printf(")");
    } else {
        printf("#<procedure>");
    }
}

static const char *program =
    "(define (range a b) (if (< a b) (cons a (range (+ a 1) b)) '()))\n"
    "(define (map f l) (if (null? l) '() (cons (f (car l)) (map f (cdr l)))))\n"
    "(define (sum l) (if (null? l) 0 (+ (car l) (sum (cdr l)))))\n"
    "(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))\n"
    "(define squares (map (lambda (x) (* x x)) (range 0 1000)))\n"
    "(sum squares)\n"
    "(fib 20)\n"
    "(map (lambda (n) (fib n)) (range 0 15))\n"
    "(sum squares)\n";

int main(int argc, char **argv) {
    int print_stats = argc > 1 && strcmp(argv[1], "--stats") == 0;

    /* Step 2: a runtime flag picks the allocator. */
    rt.v2 = getenv("MORPH_MEM_V2") != NULL;
    if (rt.v2) {
        /* Step 3: the mode comes from MORPH_MEM_MODE (default: runtime). */
        check(morph_context_create_preset(MORPH_MODE_RUNTIME, &rt.ctx));
        static const char *names[] = {"Int", "Symbol", "Cons", "Closure", "Primitive"};
        static const size_t sizes[] = {sizeof(Int), sizeof(Sym), sizeof(Cons), sizeof(Closure),
                                       sizeof(Prim)};
        static const size_t cons_refs[] = {offsetof(Cons, car), offsetof(Cons, cdr)};
        static const size_t closure_refs[] = {offsetof(Closure, params), offsetof(Closure, body),
                                              offsetof(Closure, env)};
        for (int t = 0; t < 5; t++) {
            MorphTypeDesc desc = {0};
            desc.name = names[t];
            desc.size = sizes[t];
            if (t == T_CONS) {
                desc.ref_offsets = cons_refs;
                desc.ref_count = 2;
            } else if (t == T_CLOSURE) {
                desc.ref_offsets = closure_refs;
                desc.ref_count = 3;
            }
            check(morph_type_register(&desc, &rt.types[t]));
        }
        check(morph_root_add(rt.ctx, &symbols));
        check(morph_root_add(rt.ctx, &globals));
    }

    for (int p = P_ADD; p <= P_LIST; p++) {
        void *r[1] = {alloc_obj(T_PRIM, sizeof(Prim))};
        MorphFrame frame;
        push_roots(&frame, r, 1);
        ((Prim *)r[0])->op = p;
        Obj *name = intern(prim_names[p], strlen(prim_names[p])); /* may collect */
        r[0] = cons(name, (Obj *)r[0]);
        globals = cons((Obj *)r[0], (Obj *)globals);
        pop_roots(&frame);
    }

    void *r[2] = {NULL, NULL};
    MorphFrame frame;
    push_roots(&frame, r, 2);
    src = program;
    for (;;) {
        skip_space();
        if (*src == '\0') {
            break;
        }
        r[0] = read_expr();
        r[1] = eval((Obj *)r[0], NULL);
        if (!(car((Obj *)r[0]) && is_sym(car((Obj *)r[0]), "define"))) {
            print((Obj *)r[1]);
            printf("\n");
        }
    }
    pop_roots(&frame);

    if (rt.v2) {
        MorphMemConfig config;
        check(morph_context_config(rt.ctx, &config));
        fprintf(stderr, "allocator: Morph Memory V2, %s mode\n",
                config.mode == MORPH_MODE_COMPILER ? "compiler" : "runtime");
        check(morph_verify(rt.ctx));
        if (print_stats) {
            fflush(stdout);
            check(morph_mem_print_stats(rt.ctx));
        }
        check(morph_root_remove(rt.ctx, &symbols));
        check(morph_root_remove(rt.ctx, &globals));
        check(morph_context_destroy(rt.ctx));
    } else {
        fprintf(stderr, "allocator: V1 (malloc), %zu blocks\n", rt.v1_count);
        for (size_t i = 0; i < rt.v1_count; i++) {
            free(rt.v1_blocks[i]);
        }
        free(rt.v1_blocks);
    }
    return 0;
}
