//! Memory-pressure callbacks: a program asks to hear when the collected heap
//! passes given fractions of its bound, and sheds load (drops caches,
//! refuses work) before allocation starts failing.

#![cfg_attr(not(collector), allow(dead_code))]

use std::fmt;

/// What a pressure callback is told.
///
/// ```
/// use morph_mem::PressureEvent;
///
/// let event = PressureEvent { threshold: 0.75, used: 800, bound: 1000 };
/// assert_eq!(event.fraction(), 0.8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PressureEvent {
    /// The fraction of the bound the callback was registered for.
    pub threshold: f64,
    /// Bytes the heap has committed against the bound: what it reserves,
    /// plus the room it holds back to promote a full nursery (allocation
    /// fails when this would pass the bound).
    pub used: usize,
    /// The heap bound (`heap_size_hint`).
    pub bound: usize,
}

impl PressureEvent {
    /// `used / bound`.
    pub fn fraction(&self) -> f64 {
        self.used as f64 / self.bound as f64
    }
}

/// A registered callback.
struct Watch {
    threshold: f64,
    /// Fired and not yet re-armed: the heap must drop below
    /// `threshold − REARM` before it fires again.
    fired: bool,
    callback: Box<dyn FnMut(PressureEvent)>,
}

/// How far below its threshold the heap must fall before a fired callback
/// can fire again, as a fraction of the bound: without it, a heap hovering
/// at the line would call back at every collection.
pub const REARM_MARGIN: f64 = 0.05;

/// The callbacks of one heap, checked after every collection.
#[derive(Default)]
pub(crate) struct PressureMonitor {
    watches: Vec<Watch>,
}

impl fmt::Debug for PressureMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.watches.iter().map(|w| (w.threshold, w.fired)))
            .finish()
    }
}

impl PressureMonitor {
    pub(crate) fn add(&mut self, threshold: f64, callback: Box<dyn FnMut(PressureEvent)>) {
        self.watches.push(Watch {
            threshold,
            fired: false,
            callback,
        });
        self.watches
            .sort_by(|a, b| a.threshold.total_cmp(&b.threshold));
    }

    /// Fires, in increasing threshold order, every armed callback whose
    /// threshold `used` reaches, and re-arms those the heap fell well below.
    pub(crate) fn check(&mut self, used: usize, bound: usize) {
        if bound == 0 {
            return;
        }
        let fraction = used as f64 / bound as f64;
        for watch in &mut self.watches {
            if fraction >= watch.threshold {
                if !watch.fired {
                    watch.fired = true;
                    (watch.callback)(PressureEvent {
                        threshold: watch.threshold,
                        used,
                        bound,
                    });
                }
            } else if fraction < watch.threshold - REARM_MARGIN {
                watch.fired = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn fires_once_per_crossing_in_threshold_order_and_rearms() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut monitor = PressureMonitor::default();
        for t in [0.9, 0.5, 0.75] {
            let log = Rc::clone(&log);
            monitor.add(t, Box::new(move |e| log.borrow_mut().push(e.threshold)));
        }
        monitor.check(40, 100);
        assert!(log.borrow().is_empty());
        monitor.check(80, 100);
        assert_eq!(*log.borrow(), [0.5, 0.75]);
        monitor.check(79, 100); // still above 0.5 and within the margin of 0.75
        monitor.check(95, 100);
        assert_eq!(*log.borrow(), [0.5, 0.75, 0.9]);
        monitor.check(60, 100); // re-arms 0.75 and 0.9, not 0.5
        monitor.check(92, 100);
        assert_eq!(*log.borrow(), [0.5, 0.75, 0.9, 0.75, 0.9]);
    }
}
