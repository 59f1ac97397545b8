//! The interpreter example (`examples/interp/`): its programs give the
//! values computed in Rust, and the same values and output when the heap
//! collects at every few allocations (stress mode), with the heap verifier
//! run inside the programs and after them. Errors in programs are reported
//! as errors, never panics, and leave the interpreter and the heap usable.
#![cfg(feature = "runtime")]

// The example's modules, compiled into this test. Some of their items serve
// only the example's `main`.
#[allow(dead_code)]
#[path = "../examples/interp/lang/mod.rs"]
mod lang;
#[allow(dead_code)]
#[path = "../examples/interp/programs.rs"]
mod programs;

use std::num::NonZeroU32;

use lang::value::ErrorKind;
use lang::{Error, Interp};
use morph_mem::gc::{GcConfig, Heap};
use morph_mem::{MorphMem, MorphMemConfig};

/// A small heap, so that even short programs collect; `stress` collects at
/// every `stress`-th allocation (a major collection every 16th time).
fn config(stress: Option<u32>) -> GcConfig {
    GcConfig {
        nursery_size: 64 << 10,
        survivor_size: 16 << 10,
        gc_threshold: 1 << 20,
        stress_every: stress.and_then(NonZeroU32::new),
        trace: false,
        ..GcConfig::default()
    }
}

/// What one run of a program gave.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// The last value as `write` prints it, or the error.
    value: Result<String, Error>,
    /// What the program displayed.
    output: String,
}

/// Runs `f` on a thread with room for deep recursion (non-tail calls nest
/// in Rust, and test builds have large frames).
fn on_big_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the interpreter does not panic")
}

/// Runs `source` in a fresh heap, verifying the heap afterwards; also
/// returns the number of collections.
fn run_counting(stress: Option<u32>, source: &str) -> (Outcome, u64) {
    let source = source.to_owned();
    on_big_stack(move || {
        let mut heap = Heap::new(config(stress)).expect("a valid configuration");
        heap.enter(|m| {
            let mut interp = Interp::new(m);
            interp.max_depth = 5_000;
            let value = interp.run(m, &source).map(|v| interp.show(m, &v));
            let output = interp.take_output();
            drop(interp);
            m.verify().expect("the heap verifies after the program");
            (Outcome { value, output }, m.collections())
        })
    })
}

fn run(stress: Option<u32>, source: &str) -> Outcome {
    run_counting(stress, source).0
}

/// Runs `source` without stress and with stress every 3 and every 50
/// allocations; all runs must agree. Returns the unstressed outcome.
#[track_caller]
fn run_all_ways(source: &str) -> Outcome {
    let plain = run(None, source);
    for stress in [3, 50] {
        assert_eq!(
            run(Some(stress), source),
            plain,
            "stress every {stress} changed the outcome of {source}"
        );
    }
    plain
}

#[track_caller]
fn assert_value(source: &str, expected: &str) {
    let outcome = run_all_ways(source);
    match outcome.value {
        Ok(value) => assert_eq!(value, expected, "{source}"),
        Err(e) => panic!("{source}\nfailed: {e}"),
    }
}

#[track_caller]
fn assert_error(source: &str, kind: ErrorKind, message: &str) {
    let outcome = run_all_ways(source);
    match outcome.value {
        Ok(value) => panic!("{source}\ngave {value}, expected an error"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{source}: {e}");
            assert!(
                e.message().contains(message),
                "{source}: `{e}` does not mention `{message}`"
            );
        }
    }
}

/// The interpreter's closures, environments and lists, moved by a
/// collection every third allocation, give the value they give without
/// stress. Small enough for Miri (which checks the safe API's and the
/// collector's memory accesses along the way), where the other tests here
/// are too slow; it skips the heap verifier there (30 s an interpreter).
#[test]
fn a_closure_program_survives_stress_collections() {
    let source = "(define (make-counter)
                    (let ((n 0)) (lambda () (set! n (+ n 1)) n)))
                  (define a (make-counter))
                  (define b (make-counter))
                  (a) (a) (b)
                  (define xs (map (lambda (i) (cons i (a))) (iota 20)))
                  (list (b) (length xs) (cdr (list-ref xs 19)))";
    let run = |stress| {
        on_big_stack(move || {
            let mut heap = Heap::new(config(stress)).expect("a valid configuration");
            heap.enter(|m| {
                let mut interp = Interp::new(m);
                let value = interp.run(m, source).map(|v| interp.show(m, &v));
                drop(interp);
                if !cfg!(miri) {
                    m.verify().expect("the heap verifies after the program");
                }
                (value, m.collections())
            })
        })
    };
    let (plain, _) = run(None);
    assert_eq!(plain, Ok("(2 20 22)".to_string()));
    let (stressed, collections) = run(Some(3));
    assert_eq!(stressed, plain);
    assert!(
        collections > 10,
        "stress mode collected {collections} times"
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "minutes under Miri (each run starts an interpreter, 3 s there, and verifies the heap, 30 s); Miri runs `a_closure_program_survives_stress_collections`"
)]
fn the_builtin_programs_give_their_expected_results_even_collecting_at_every_allocation() {
    for program in programs::all(programs::Size::Tiny) {
        let plain = run(None, &program.source);
        assert_eq!(
            plain.value,
            Ok(program.expected.to_string()),
            "{}",
            program.name
        );
        for stress in [1, 2, 17] {
            let (stressed, collections) = run_counting(Some(stress), &program.source);
            assert_eq!(
                stressed, plain,
                "{} under stress every {stress}",
                program.name
            );
            assert!(collections > 10, "{}: stress mode collected", program.name);
        }
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "minutes under Miri (each run starts an interpreter, 3 s there, and verifies the heap, 30 s); Miri runs `a_closure_program_survives_stress_collections`"
)]
fn larger_programs_agree_with_and_without_stress() {
    for program in [
        programs::binary_trees(8),
        programs::closures(4, 400),
        programs::churn(6_000, 100),
    ] {
        let (plain, collections) = run_counting(None, &program.source);
        assert_eq!(
            plain.value,
            Ok(program.expected.to_string()),
            "{}",
            program.name
        );
        assert!(
            collections > 0,
            "{} outgrows a 64 KiB nursery",
            program.name
        );
        assert_eq!(run(Some(50), &program.source), plain, "{}", program.name);
    }
    assert!(
        run(None, &programs::binary_trees(8).source)
            .output
            .starts_with("stretch tree of depth 9\t check: 1023\n")
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "minutes under Miri (each run starts an interpreter, 3 s there, and verifies the heap, 30 s); Miri runs `a_closure_program_survives_stress_collections`"
)]
fn closures_capture_variables_and_share_their_mutations() {
    // A counter mutating its captured variable.
    assert_value(
        "(define (make-counter)
           (let ((n 0)) (lambda () (set! n (+ n 1)) n)))
         (define a (make-counter))
         (define b (make-counter))
         (a) (a) (b)
         (list (a) (b))",
        "(3 2)",
    );
    // Two closures over one variable see each other's assignments.
    assert_value(
        "(define (make-account balance)
           (define (deposit x) (set! balance (+ balance x)) balance)
           (define (withdraw x) (set! balance (- balance x)) balance)
           (list deposit withdraw))
         (define acct (make-account 100))
         ((car acct) 50)
         ((cadr acct) 30)",
        "120",
    );
    // Each iteration of a loop has its own binding.
    assert_value(
        "(define thunks
           (let loop ((i 0) (acc '()))
             (if (= i 5) acc (loop (+ i 1) (cons (lambda () (* i i)) acc)))))
         (map (lambda (t) (t)) thunks)",
        "(16 9 4 1 0)",
    );
    // Captured parameters, `let` variables and internal defines, three
    // frames deep, with collections between creation and use.
    assert_value(
        "(define (outer x)
           (let ((y (* x 10)))
             (define z (+ y 1))
             (lambda (w)
               (lambda () (list x y z w (iota 3))))))
         (define f ((outer 2) 'w))
         (define garbage (iota 2000))
         (f)",
        "(2 20 21 w (0 1 2))",
    );
    // A closure assigning a variable of the procedure that made it, after
    // that procedure returned; and `set!` of a register variable.
    assert_value(
        "(define (f)
           (let ((hidden 1) (plain 5))
             (set! plain (+ plain 1))
             (cons (lambda (v) (set! hidden v)) (lambda () (+ hidden plain)))))
         (define p (f))
         ((car p) 41)
         ((cdr p))",
        "47",
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "minutes under Miri (each run starts an interpreter, 3 s there, and verifies the heap, 30 s); Miri runs `a_closure_program_survives_stress_collections`"
)]
fn recursion_tail_calls_and_binding_forms() {
    assert_value(
        "(define (fact n) (if (= n 0) 1 (* n (fact (- n 1))))) (fact 19)",
        "121645100408832000",
    );
    assert_value(
        "(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))) (fib 15)",
        "610",
    );
    // Mutual recursion through internal defines, in tail position: 100 000
    // calls in constant stack.
    assert_value(
        "(define (parity n)
           (define (ev? n) (if (= n 0) #t (od? (- n 1))))
           (define (od? n) (if (= n 0) #f (ev? (- n 1))))
           (if (ev? n) 'even 'odd))
         (list (parity 100000) (parity 7))",
        "(even odd)",
    );
    // Tail calls through cond, and, or, when and let bodies.
    assert_value(
        "(define (count n acc)
           (cond ((= n 0) acc)
                 ((odd? n) (and #t (count (- n 1) (+ acc 1))))
                 (else (or #f (let ((m (- n 1))) (when #t (count m acc)))))))
         (count 50000 0)",
        "25000",
    );
    assert_value(
        "(let* ((x 1) (y (+ x 1)) (x (* y 10))) (list x y))",
        "(20 2)",
    );
    assert_value(
        "(letrec ((ev? (lambda (n) (if (= n 0) #t (od? (- n 1)))))
                  (od? (lambda (n) (if (= n 0) #f (ev? (- n 1))))))
           (ev? 10))",
        "#t",
    );
    assert_value(
        "(let loop ((i 0) (acc '())) (if (= i 3) (reverse acc) (loop (+ i 1) (cons i acc))))",
        "(0 1 2)",
    );
    assert_value(
        "(define (f a . rest) (list a rest)) (list (f 1) (f 1 2 3) (apply f 1 '(2)) ((lambda args args) 4 5))",
        "((1 ()) (1 (2 3)) (1 (2)) (4 5))",
    );
    // A local variable shadowing a keyword is a variable.
    assert_value("(let ((if (lambda (a b c) c))) (if 1 2 3))", "3");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "minutes under Miri (each run starts an interpreter, 3 s there, and verifies the heap, 30 s); Miri runs `a_closure_program_survives_stress_collections`"
)]
fn data_structures_survive_collections_intact() {
    // A long list built, walked and rebuilt; `verify-heap` checks the heap
    // in the middle of the program.
    assert_value(
        "(define xs (iota 3000))
         (define ys (map (lambda (x) (* x x)) xs))
         (verify-heap)
         (gc)
         (define zs (reverse (reverse ys)))
         (verify-heap)
         (list (length zs) (equal? ys zs) (list-ref zs 2999) (fold-left + 0 xs))",
        "(3000 #t 8994001 4498500)",
    );
    // Deeply nested lists (car-wise), built and measured recursively.
    assert_value(
        "(define (nest n) (if (= n 0) '() (list (nest (- n 1)))))
         (define (depth x) (if (null? x) 0 (+ 1 (depth (car x)))))
         (depth (nest 2000))",
        "2000",
    );
    // Old-to-young stores: a table promoted by collections, then updated.
    assert_value(
        "(define table (map (lambda (i) (list i)) (iota 200)))
         (gc) (gc-minor) (gc-minor) (gc-minor)
         (for-each (lambda (cell) (set-car! cell (string-append \"v\" (number->string (car cell))))) table)
         (gc-minor)
         (verify-heap)
         (list (car (list-ref table 7)) (car (list-ref table 199)))",
        "(\"v7\" \"v199\")",
    );
    assert_value(
        "(list (assq 'b '((a 1) (b 2))) (assoc \"y\" (list (list \"x\" 1) (list \"y\" 2)))
               (memq 'c '(a b c d)) (member '(1) '((0) (1) (2)))
               (append '(1) '(2 3) '() '(4 . 5)) (filter even? (iota 10))
               (fold-right cons '() '(1 2 3)) (map + '(1 2 3) '(10 20 30)))",
        "((b 2) (\"y\" 2) (c d) ((1) (2)) (1 2 3 4 . 5) (0 2 4 6 8) (1 2 3) (11 22 33))",
    );
    assert_value(
        "(list (/ 1 4) (/ 6 3) (exact->inexact 1) (+ 0.5 1) (sqrt 16) (expt 2 10) (modulo -7 3) (remainder -7 3)
               (string-length \"héllo\") (symbol->string 'abc) (string->symbol \"q\") (string=? \"a\" \"a\"))",
        "(0.25 2 1.0 1.5 4 1024 2 -1 5 \"abc\" q #t)",
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "minutes under Miri (each run starts an interpreter, 3 s there, and verifies the heap, 30 s); Miri runs `a_closure_program_survives_stress_collections`"
)]
fn output_is_the_same_under_stress() {
    let outcome = run_all_ways(
        "(for-each (lambda (x) (display x) (display \" \")) (list 1 \"two\" 'three 4.5 '(5 . 6)))
         (newline)
         (write \"quoted\")",
    );
    assert_eq!(outcome.output, "1 two three 4.5 (5 . 6) \n\"quoted\"");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "minutes under Miri (each run starts an interpreter, 3 s there, and verifies the heap, 30 s); Miri runs `a_closure_program_survives_stress_collections`"
)]
fn errors_are_reported_not_panics() {
    assert_error("(foo 1)", ErrorKind::Unbound, "`foo` is not defined");
    assert_error(
        "(set! nowhere 1)",
        ErrorKind::Unbound,
        "`set!` of `nowhere`",
    );
    assert_error(
        "(define (f) (define (g) x) (define x (g)) x) (f)",
        ErrorKind::Unbound,
        "`x` is used before its definition",
    );
    assert_error(
        "(define (f a b) a) (f 1)",
        ErrorKind::Arity,
        "`f` expects 2 arguments, got 1",
    );
    assert_error(
        "((lambda (x) x))",
        ErrorKind::Arity,
        "expects 1 argument, got 0",
    );
    assert_error(
        "(define (f a . r) a) (f)",
        ErrorKind::Arity,
        "at least 1 argument",
    );
    assert_error(
        "(car 1 2)",
        ErrorKind::Arity,
        "`car` expects 1 argument, got 2",
    );
    assert_error("(car 5)", ErrorKind::Type, "`car` expects a pair, got 5");
    assert_error(
        "(+ 1 \"two\")",
        ErrorKind::Type,
        "`+` expects a number, got \"two\"",
    );
    assert_error("(length '(1 . 2))", ErrorKind::Type, "a proper list");
    assert_error("(5 6)", ErrorKind::Type, "`5` is not a procedure");
    assert_error(
        "(define x '(1)) (x)",
        ErrorKind::Type,
        "`(1)` is not a procedure",
    );
    assert_error("(quotient 1 0)", ErrorKind::Range, "division by zero");
    assert_error(
        "(* 1000000000000 1000000000000)",
        ErrorKind::Range,
        "overflow",
    );
    assert_error("(list-ref '(1 2) 5)", ErrorKind::Range, "past the end");
    assert_error(
        "(error \"bad thing:\" 42 'x)",
        ErrorKind::User,
        "bad thing: 42 x",
    );
    assert_error(
        "(define (down n) (+ 1 (down n))) (down 1)",
        ErrorKind::Depth,
        "more than 5000 nested calls",
    );
    assert_error(
        "(+ 1 2",
        ErrorKind::Syntax,
        "line 1: list opened on line 1 is not closed",
    );
    assert_error(
        "\n(let ((x)) x)",
        ErrorKind::Syntax,
        "line 2: each binding must be (name value)",
    );
    assert_error("(if)", ErrorKind::Syntax, "`if` takes");
    assert_error(
        "(lambda (x x) x)",
        ErrorKind::Syntax,
        "parameter `x` appears twice",
    );
    assert_error(
        "(define (f) (if #t (define y 1)) 2) (f)",
        ErrorKind::Syntax,
        "only allowed",
    );
    assert_error("()", ErrorKind::Syntax, "write '() for the empty list");
    assert_error("#q", ErrorKind::Syntax, "unknown syntax `#q`");
    assert_error(
        "12345678901234567890",
        ErrorKind::Syntax,
        "does not fit in 61 bits",
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "minutes under Miri (each run starts an interpreter, 3 s there, and verifies the heap, 30 s); Miri runs `a_closure_program_survives_stress_collections`"
)]
fn the_interpreter_and_heap_stay_usable_after_an_error() {
    on_big_stack(|| {
        let mut heap = Heap::new(config(Some(5))).unwrap();
        heap.enter(|m| {
            let mut interp = Interp::new(m);
            interp.max_depth = 2_000;
            interp
                .run(
                    m,
                    "(define keep (iota 100)) (define (boom n) (cons n (boom n)))",
                )
                .unwrap();
            let error = interp.run(m, "(boom 1)").unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Depth);
            let error = interp.run(m, "(car (cdr (list 1)))").unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Type);
            m.verify().unwrap();
            let value = interp.run(m, "(gc) (fold-left + 0 keep)").unwrap();
            assert_eq!(interp.show(m, &value), "4950");
            m.verify().unwrap();
        });
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "minutes under Miri (each run starts an interpreter, 3 s there, and verifies the heap, 30 s); Miri runs `a_closure_program_survives_stress_collections`"
)]
fn the_facade_runs_the_interpreter_in_runtime_mode() {
    let mut mm = MorphMem::new(MorphMemConfig::RUNTIME).unwrap();
    let program = programs::churn(20_000, 50);
    let value = mm
        .enter(|m| {
            let mut interp = Interp::new(m);
            let value = interp.run(m, &program.source).unwrap();
            interp.show(m, &value)
        })
        .unwrap();
    assert_eq!(value, program.expected.to_string());
    let stats = mm.stats();
    assert!(stats.gc.gc_count > 0, "{stats:?}");
    assert!(stats.objects.by_type.iter().any(|t| t.name == "Obj"));
}
