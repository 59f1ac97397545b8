//! The mutation-heavy VM workload (`vm-objects`): a dynamic-language
//! runtime's heap of many small maps and lists, mutated at random.
//!
//! Values are dynamic: an integer, a string, or a reference to a list or a
//! record (an absent field reads as nil). A global table of `slots` slots
//! holds, about two in three, a *record* (a map of 4–8 fields keyed by
//! names from [`KEYS`], stored as strings and compared by content) and
//! otherwise a *list* (a vector of 0–16 values). A field or item is mostly
//! an integer, sometimes a fresh short string, sometimes a fresh list of
//! 0–4 integers. Slots never refer to each other: the graph is a forest, so
//! plain `Rc` frees everything on overwrite.
//!
//! Then `ops` operations, each on a random slot: 35 % writes
//! (record insert-or-replace, list push after a pop at 16 items), 35 %
//! reads (field by name, item by index), 10 % removes (field remove, list
//! pop), 10 % overwrites (of a present field or an existing item) and 10 %
//! scans (every entry or item). Every `slots / 10` operations a *rebuild
//! round* replaces a contiguous 5 % of the slots with fresh records and
//! lists, so part of the live set turns over. At the end every slot is
//! walked.
//!
//! Every random draw is made here (`Fresh::draw`, `Op::draw`, `drive`) in
//! one order, so every implementation does the same work; the checksum
//! comes from values only (map entries summed, never in iteration order).
//! Each batch of [`BATCH`] operations is timed (`stalls`); rebuild rounds
//! are timed on their own (`stalls.rebuild_rounds`), so a batch holds
//! ordinary operations plus whatever the implementation did inside them:
//! collections, `collect_debt`, frees.

use std::time::Instant;

use serde_json::json;

use super::{Family, Outcome, Size, Workload, Xorshift, collector_details};
use crate::probe::{StepTimer, distribution_json};

mod arena_peer;
mod morph;
mod owned;

/// The field names a record's keys are drawn from.
pub const KEYS: [&str; 16] = [
    "x", "y", "z", "name", "next", "tags", "id", "kind", "size", "left", "right", "parent",
    "value", "count", "flags", "data",
];
/// What fresh strings are cut from (each store copies its piece).
const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Operations timed together as one stall sample.
pub const BATCH: u64 = 64;
/// Items a list holds at most: a push pops first.
const MAX_LIST: usize = 16;

/// How large a run is: slots in the table, operations after filling it.
#[derive(Clone, Copy, Debug)]
struct Shape {
    slots: usize,
    ops: u64,
}

impl Shape {
    fn of(size: Size) -> Self {
        let (slots, ops) = match size {
            Size::Quick => (200_000, 2_000_000),
            Size::Full => (1_000_000, 10_000_000),
        };
        Shape { slots, ops }
    }

    /// Operations between rebuild rounds.
    fn rebuild_every(self) -> u64 {
        (self.slots as u64 / 10).max(1)
    }

    /// Slots a rebuild round replaces.
    fn rebuild_len(self) -> usize {
        self.slots / 20
    }

    fn describe(self) -> String {
        format!(
            "{} slots (2/3 records of 4–8 string-keyed fields, 1/3 lists of 0–16 values), then \
             {} random operations (35 % set/push, 35 % get, 10 % remove/pop, 10 % overwrite, \
             10 % scan) with {} contiguous slots rebuilt every {} operations; every batch of \
             {BATCH} operations timed",
            self.slots,
            self.ops,
            self.rebuild_len(),
            self.rebuild_every()
        )
    }
}

/// The workload's entry in the catalogue.
pub fn workload() -> Workload {
    Workload {
        name: "vm-objects".into(),
        family: Family::VmObjects,
        baseline: "morph-gengc",
        implementations: super::COLLECTOR_IMPLS
            .into_iter()
            .filter(|&i| i != "gc")
            .collect(),
        left_out: vec![(
            "gc",
            "not written for this workload: rust-gc's GcCell would be one more variant of \
             the Rc shape, and its collector took 25× our time on server",
        )],
        quick: Shape::of(Size::Quick).describe(),
        full: Shape::of(Size::Full).describe(),
        full_only: false,
        run: Box::new(run),
    }
}

/// Runs the workload with `implementation`, or `None` if unknown.
#[must_use]
pub fn run(implementation: &str, size: Size) -> Option<Outcome> {
    let shape = Shape::of(size);
    Some(match implementation {
        "morph-gengc" => morph::run(shape),
        "gc-arena" => arena_peer::run(shape),
        "rc" => owned::rc::run(shape),
        "dumpster" => owned::dumpster_peer::run(shape),
        name if name.starts_with("box-") => owned::boxed::run(shape),
        _ => return None,
    })
}

/// splitmix64's finaliser: every bit of `x` into every bit of the result.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A string's contents as a number (FNV-1a).
fn text_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One map entry's share of a digest; entries are summed, in any order.
fn entry(key: &str, value: u64) -> u64 {
    mix(text_hash(key) ^ value.rotate_left(32))
}

/// The next step of an ordered (list) digest.
fn seq(acc: u64, value: u64) -> u64 {
    mix(acc ^ value)
}

/// Slot `slot`'s share of the final checksum.
fn slot_digest(slot: usize, digest: u64) -> u64 {
    mix(slot as u64 ^ digest.rotate_left(17))
}

/// A fresh value to store: an integer, a string (copied from [`LETTERS`]),
/// or a list of `len` integers counting up from `first`.
#[derive(Clone, Copy, Debug)]
enum New {
    Int(i64),
    Str(&'static str),
    List { len: u8, first: i64 },
}

impl New {
    fn from_bits(bits: u64) -> Self {
        let b = mix(bits);
        let (x, y) = ((b >> 8) as usize, (b >> 32) as usize);
        match b % 10 {
            0..=6 => New::Int((x % 1_000_000) as i64),
            7 | 8 => New::Str(&LETTERS[x % 40..][..1 + y % 12]),
            _ => New::List {
                len: (x % 5) as u8,
                first: (y % 1000) as i64,
            },
        }
    }

    /// A fresh list's integers (none for other values).
    fn ints(self) -> impl Iterator<Item = i64> {
        let (len, first) = match self {
            New::List { len, first } => (i64::from(len), first),
            _ => (0, 0),
        };
        (0..len).map(move |k| first + k)
    }
}

/// How a fresh record or list is built: its length, its values from
/// `seed`, and for a record the keys `key0 + j * stride` (distinct: the
/// stride is odd).
#[derive(Clone, Copy, Debug)]
struct Recipe {
    len: u8,
    key0: u8,
    stride: u8,
    seed: u64,
}

impl Recipe {
    fn items(self) -> impl Iterator<Item = New> {
        (0..u64::from(self.len)).map(move |j| New::from_bits(self.seed.wrapping_add(j)))
    }

    fn fields(self) -> impl Iterator<Item = (&'static str, New)> {
        let (key0, stride) = (usize::from(self.key0), usize::from(self.stride));
        let key = move |j: usize| KEYS[(key0 + j * stride) % 16];
        self.items()
            .enumerate()
            .map(move |(j, value)| (key(j), value))
    }

    fn len(self) -> usize {
        usize::from(self.len)
    }
}

/// What a slot is built as.
#[derive(Clone, Copy, Debug)]
enum Fresh {
    Record(Recipe),
    List(Recipe),
}

impl Fresh {
    /// The next slot's contents: one draw.
    fn draw(rng: &mut Xorshift) -> Self {
        let bits = rng.below(u64::MAX);
        let seed = mix(bits);
        if bits % 3 < 2 {
            Fresh::Record(Recipe {
                len: 4 + ((bits >> 2) % 5) as u8,
                key0: ((bits >> 5) % 16) as u8,
                stride: 1 + 2 * ((bits >> 9) % 8) as u8,
                seed,
            })
        } else {
            let len = ((bits >> 2) % (MAX_LIST as u64 + 1)) as u8;
            Fresh::List(Recipe {
                len,
                key0: 0,
                stride: 0,
                seed,
            })
        }
    }
}

/// What an operation does to its slot's record or list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Insert or replace the field `key`; push (popping first at 16 items).
    Write,
    /// The field `key`, the item at `index`: folded in by value (integers),
    /// length (strings, lists) or 0 (nil).
    Read,
    /// Remove the field `key`; pop. The removed value is folded in.
    Remove,
    /// Replace the field `key` if present; the item at `index` if any.
    Overwrite,
    /// Every entry or item folded in.
    Scan,
}

/// One operation: two draws.
#[derive(Clone, Copy, Debug)]
struct Op {
    slot: usize,
    kind: Kind,
    key: &'static str,
    /// A list operation's item is `index % len`.
    index: usize,
    value: New,
}

impl Op {
    fn draw(rng: &mut Xorshift, shape: Shape) -> Self {
        let slot = rng.below(shape.slots as u64) as usize;
        let bits = mix(rng.below(u64::MAX));
        let kind = match bits % 100 {
            0..35 => Kind::Write,
            35..70 => Kind::Read,
            70..80 => Kind::Remove,
            80..90 => Kind::Overwrite,
            _ => Kind::Scan,
        };
        Op {
            slot,
            kind,
            key: KEYS[((bits >> 7) % 16) as usize],
            index: ((bits >> 11) % 16) as usize,
            value: New::from_bits(bits >> 15),
        }
    }

    /// The item a list operation reads or replaces in a list of `len`.
    fn at(&self, len: usize) -> Option<usize> {
        (len > 0).then(|| self.index % len)
    }
}

/// One implementation's heap and table, as [`drive`] sees it.
trait Machine {
    /// Appends a slot built from `fresh` (the fill phase).
    fn fill(&mut self, fresh: Fresh);
    /// Replaces `slot` with one built from `fresh` (a rebuild round).
    fn replace(&mut self, slot: usize, fresh: Fresh);
    /// Applies `op`; returns what it folds into the checksum.
    fn apply(&mut self, op: &Op) -> u64;
    /// Every slot's [`slot_digest`], summed.
    fn walk(&mut self) -> u64;
}

/// What [`drive`] measured.
struct Run {
    checksum: u64,
    phases_ms: [f64; 3],
    steady_at: Instant,
    stalls: StepTimer,
    rebuilds: StepTimer,
}

fn ms(from: Instant, to: Instant) -> f64 {
    (to - from).as_secs_f64() * 1e3
}

/// Fills the table, runs the operations in timed batches with the rebuild
/// rounds between them, and walks the table: the same draws in the same
/// order for every implementation.
fn drive(shape: Shape, vm: &mut impl Machine) -> Run {
    let started = Instant::now();
    let mut rng = Xorshift::new();
    for _ in 0..shape.slots {
        vm.fill(Fresh::draw(&mut rng));
    }
    let steady_at = Instant::now();
    let (mut stalls, mut rebuilds) = (StepTimer::new(), StepTimer::new());
    let every = shape.rebuild_every();
    let (mut checksum, mut done) = (0u64, 0);
    while done < shape.ops {
        let end = (done + BATCH).min(shape.ops);
        let batch = stalls.time(|| {
            let mut sum = 0u64;
            for _ in done..end {
                sum = sum.wrapping_add(vm.apply(&Op::draw(&mut rng, shape)));
            }
            sum
        });
        checksum = checksum.wrapping_add(batch);
        if end / every > done / every {
            rebuilds.time(|| {
                let len = shape.rebuild_len();
                let start = rng.below((shape.slots - len + 1) as u64) as usize;
                for slot in start..start + len {
                    vm.replace(slot, Fresh::draw(&mut rng));
                }
            });
        }
        done = end;
    }
    let walked = Instant::now();
    checksum = checksum.wrapping_add(vm.walk());
    let phases_ms = [
        ms(started, steady_at),
        ms(steady_at, walked),
        ms(walked, Instant::now()),
    ];
    Run {
        checksum,
        phases_ms,
        steady_at,
        stalls,
        rebuilds,
    }
}

impl Run {
    /// The parts every implementation reports the same way.
    fn outcome(&self, shape: Shape) -> Outcome {
        let mut outcome = Outcome::new(self.checksum, shape.ops);
        let mut stalls = distribution_json(self.stalls.histogram());
        stalls["batch_ops"] = json!(BATCH);
        stalls["rebuild_rounds"] = distribution_json(self.rebuilds.histogram());
        outcome.detail("stalls", stalls);
        let [fill, steady, walk] = self.phases_ms;
        outcome.detail(
            "phases_ms",
            json!({ "fill": fill, "steady": steady, "walk": walk }),
        );
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every implementation does the same work: at a small size (a few
    /// rebuild rounds, every kind of operation), their checksums agree.
    #[test]
    fn every_implementation_computes_the_same_checksum() {
        let shape = Shape {
            slots: 2_000,
            ops: 20_000,
        };
        let reference = morph::run(shape).checksum;
        assert_eq!(arena_peer::run(shape).checksum, reference, "gc-arena");
        assert_eq!(owned::rc::run(shape).checksum, reference, "rc");
        assert_eq!(
            owned::dumpster_peer::run(shape).checksum,
            reference,
            "dumpster"
        );
        assert_eq!(owned::boxed::run(shape).checksum, reference, "box");
    }
}
