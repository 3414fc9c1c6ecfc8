//! An undo stack for resources acquired step by step: every step pushes its
//! undo; on success the stack is disarmed, on any early return it unwinds.

/// Runs pushed undos in reverse order when dropped, unless disarmed.
#[derive(Default)]
pub struct Undo {
    steps: Vec<Box<dyn FnOnce() + Send>>,
}

impl Undo {
    pub fn push(&mut self, f: impl FnOnce() + Send + 'static) {
        self.steps.push(Box::new(f));
    }

    /// Keeps everything acquired so far.
    pub fn disarm(mut self) {
        self.steps.clear();
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        while let Some(f) = self.steps.pop() {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn unwinds_in_reverse_unless_disarmed() {
        let log = Arc::new(Mutex::new(Vec::new()));
        {
            let mut u = Undo::default();
            for i in 0..3 {
                let l = log.clone();
                u.push(move || l.lock().unwrap().push(i));
            }
        }
        assert_eq!(*log.lock().unwrap(), [2, 1, 0]);
        let mut u = Undo::default();
        let l = log.clone();
        u.push(move || l.lock().unwrap().push(9));
        u.disarm();
        assert_eq!(log.lock().unwrap().len(), 3);
    }
}
