//! The built-in programs: garbage-collector-heavy workloads written in the
//! interpreted language, each with its expected result computed in Rust.

/// A program to run, and the value it must produce.
#[derive(Clone, Debug)]
pub struct Program {
    /// Short name (`--bench NAME`).
    pub name: &'static str,
    /// What it does, with its size.
    pub title: String,
    /// The source text.
    pub source: String,
    /// The value of its last expression.
    pub expected: i64,
}

/// The names `--bench` accepts.
pub const NAMES: [&str; 3] = ["binary-trees", "closures", "churn"];

/// Program sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// The sizes of the issue: binary trees of depth 16, 10 million loop
    /// iterations.
    Full,
    /// A fraction of a second each, for a quick look.
    Small,
    /// Tiny, for tests under stress collection.
    Tiny,
}

/// Every built-in program at `size`.
pub fn all(size: Size) -> Vec<Program> {
    match size {
        Size::Full => vec![
            binary_trees(16),
            closures(40, 100_000),
            churn(10_000_000, 1_000),
        ],
        Size::Small => vec![
            binary_trees(10),
            closures(10, 10_000),
            churn(200_000, 1_000),
        ],
        Size::Tiny => vec![binary_trees(4), closures(3, 50), churn(300, 20)],
    }
}

/// Benchmarks-game binary trees: allocate and walk many perfect binary
/// trees of depth 4 to `depth`, next to one long-lived tree.
pub fn binary_trees(depth: u32) -> Program {
    let source = format!(
        r#";; binary-trees (benchmarks game): a tree is (left . right); a leaf is (() . ()).
(define (make depth)
  (if (= depth 0)
      (cons '() '())
      (cons (make (- depth 1)) (make (- depth 1)))))

(define (check tree)
  (if (null? (car tree))
      1
      (+ 1 (check (car tree)) (check (cdr tree)))))

(define (report count what depth check)
  (display count) (display what) (display depth)
  (display "\t check: ") (display check) (newline))

(define (binary-trees n)
  (let* ((min-depth 4)
         (max-depth (max (+ min-depth 2) n))
         (stretch-depth (+ max-depth 1))
         (stretch (check (make stretch-depth))))
    (report "" "stretch tree of depth " stretch-depth stretch)
    (let ((long-lived (make max-depth)))
      (let loop ((depth min-depth) (total stretch))
        (if (> depth max-depth)
            (let ((long-check (check long-lived)))
              (report "" "long lived tree of depth " max-depth long-check)
              (+ total long-check))
            (let ((iterations (expt 2 (+ (- max-depth depth) min-depth))))
              (let trees ((i 0) (sum 0))
                (if (< i iterations)
                    (trees (+ i 1) (+ sum (check (make depth))))
                    (begin
                      (report iterations "\t trees of depth " depth sum)
                      (loop (+ depth 2) (+ total sum)))))))))))

(binary-trees {depth})
"#
    );
    let nodes = |d: u32| (1i64 << (d + 1)) - 1;
    let (min, max) = (4, depth.max(6));
    let mut expected = nodes(max + 1) + nodes(max);
    for d in (min..=max).step_by(2) {
        expected += (1i64 << (max - d + min)) * nodes(d);
    }
    Program {
        name: "binary-trees",
        title: format!("binary trees of depth {max} (benchmarks game; checksum = sum of checks)"),
        source,
        expected,
    }
}

/// Closures everywhere: a counter mutated through its captured variable,
/// adders, composition, `map` with lambdas over a long list, a recursive
/// `my-map`, thunks capturing each element, and folds.
pub fn closures(rounds: u32, length: u32) -> Program {
    let source = format!(
        r#";; closures: captured and mutated variables, higher-order procedures.
(define (make-counter)
  (let ((count 0))
    (lambda () (set! count (+ count 1)) count)))

(define (make-adder n) (lambda (x) (+ x n)))

(define (compose f g) (lambda (x) (f (g x))))

(define (my-map f xs)
  (if (null? xs)
      '()
      (cons (f (car xs)) (my-map f (cdr xs)))))

(define (closures rounds length)
  (let ((counter (make-counter))
        (xs (iota length)))
    (let loop ((round 0) (total 0))
      (if (= round rounds)
          (+ total (counter))
          (let* ((f (compose (make-adder round) (lambda (x) (* x 2))))
                 (ys (map f xs))
                 (zs (my-map (lambda (y) (- y round)) ys))
                 (thunks (map (lambda (z) (lambda () z)) zs))
                 (sum (fold-left (lambda (acc thunk) (counter) (+ acc (thunk))) 0 thunks)))
            (loop (+ round 1) (+ total sum)))))))

(closures {rounds} {length})
"#
    );
    let (r, l) = (i64::from(rounds), i64::from(length));
    Program {
        name: "closures",
        title: format!(
            "closures: {rounds} rounds of map/compose/fold over a {length}-element list"
        ),
        source,
        expected: r * l * (l - 1) + r * l + 1,
    }
}

/// A long-running loop that allocates a short-lived list every iteration
/// while a table stays live; every 7th iteration stores the fresh list
/// into the (by then old) table: an old-to-young store through the write
/// barrier.
pub fn churn(iterations: u64, live: u64) -> Program {
    let source = format!(
        r#";; churn: a long loop of short-lived lists next to a live table.
(define (make-table size)
  (let loop ((i 0) (table '()))
    (if (= i size) table (loop (+ i 1) (cons (list i) table)))))

(define (churn iterations size)
  (let ((table (make-table size)))
    (let loop ((i 0) (cursor table) (sum 0))
      (cond ((= i iterations)
             (fold-left (lambda (acc entry) (+ acc (car entry))) sum table))
            ((null? cursor) (loop i table sum))
            (else
             (let ((fresh (list i (* 2 i) (+ i 1))))
               (when (= (remainder i 7) 0) (set-car! cursor fresh))
               (loop (+ i 1) (cdr cursor) (+ sum (cadr fresh)))))))))

(churn {iterations} {live})
"#
    );
    let mut table: Vec<i64> = (0..live as i64).rev().collect();
    let (mut position, mut sum) = (0, 0i64);
    for i in 0..iterations as i64 {
        if position == table.len() {
            position = 0;
        }
        if i % 7 == 0 {
            table[position] = i;
        }
        sum += 2 * i;
        position += 1;
    }
    Program {
        name: "churn",
        title: format!(
            "churn: {iterations} iterations of short-lived lists next to a {live}-entry live table"
        ),
        source,
        expected: sum + table.iter().sum::<i64>(),
    }
}
