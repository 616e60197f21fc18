//! Joining physical lines into events, such as Java stack traces.

use regex::Regex;

/// Joins decoded physical lines into events: a line matching the start
/// pattern begins a new event, other lines continue the current one.
#[derive(Debug, Clone)]
pub struct Joiner {
    /// Pattern of the first line of an event.
    start: Regex,
    /// Most physical lines in one event (at least 1).
    max_lines: usize,
    /// The event in progress, lines joined with `'\n'`.
    current: String,
    /// Physical lines in `current`; 0 when no event is in progress.
    lines: usize,
}

impl Joiner {
    /// A joiner starting an event at each line matching `start`, with at
    /// most `max_lines` physical lines per event (0 is taken as 1).
    pub fn new(start: Regex, max_lines: usize) -> Self {
        Joiner {
            start,
            max_lines: max_lines.max(1),
            current: String::new(),
            lines: 0,
        }
    }

    /// Feeds one decoded physical line; returns a completed event when this
    /// line starts a new one (the previous event), joined with `'\n'`.
    ///
    /// Continuation lines before any start line form their own event. An
    /// event that reached `max_lines` is complete: the next line, start or
    /// not, begins a new event.
    pub fn push(&mut self, line: &str) -> Option<String> {
        if self.lines > 0 && self.lines < self.max_lines && !self.start.is_match(line) {
            self.current.push('\n');
            self.current.push_str(line);
            self.lines += 1;
            return None;
        }
        let done = self.finish();
        self.current.push_str(line);
        self.lines = 1;
        done
    }

    /// The event in progress, at end of input.
    pub fn finish(&mut self) -> Option<String> {
        if self.lines == 0 {
            return None;
        }
        self.lines = 0;
        Some(std::mem::take(&mut self.current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joiner(max_lines: usize) -> Joiner {
        Joiner::new(Regex::new(r"^\d{4}-\d\d-\d\d ").unwrap(), max_lines)
    }

    fn run(j: &mut Joiner, lines: &[&str]) -> Vec<String> {
        let mut events: Vec<String> = lines.iter().filter_map(|l| j.push(l)).collect();
        events.extend(j.finish());
        events
    }

    #[test]
    fn stack_trace_is_one_event() {
        let mut j = joiner(100);
        let events = run(
            &mut j,
            &[
                "2024-05-01 10:00:00 ERROR boom",
                "java.lang.IllegalStateException: bad",
                "\tat com.example.A.run(A.java:10)",
                "\tat com.example.B.main(B.java:3)",
                "2024-05-01 10:00:01 INFO fine",
            ],
        );
        assert_eq!(
            events,
            vec![
                "2024-05-01 10:00:00 ERROR boom\njava.lang.IllegalStateException: bad\n\
                 \tat com.example.A.run(A.java:10)\n\tat com.example.B.main(B.java:3)"
                    .to_string(),
                "2024-05-01 10:00:01 INFO fine".to_string(),
            ]
        );
        assert_eq!(j.finish(), None);
    }

    #[test]
    fn push_returns_previous_event() {
        let mut j = joiner(10);
        assert_eq!(j.push("2024-05-01 a"), None);
        assert_eq!(j.push("  more"), None);
        assert_eq!(
            j.push("2024-05-01 b"),
            Some("2024-05-01 a\n  more".to_string())
        );
        assert_eq!(j.finish(), Some("2024-05-01 b".to_string()));
        assert_eq!(j.finish(), None);
    }

    #[test]
    fn max_lines_splits() {
        let mut j = joiner(2);
        let events = run(&mut j, &["2024-05-01 a", "c1", "c2", "c3", "c4", "c5"]);
        assert_eq!(events, vec!["2024-05-01 a\nc1", "c2\nc3", "c4\nc5"]);
        let mut j = joiner(1);
        let events = run(&mut j, &["2024-05-01 a", "c1", "2024-05-01 b"]);
        assert_eq!(events, vec!["2024-05-01 a", "c1", "2024-05-01 b"]);
        let mut j = joiner(0);
        assert_eq!(run(&mut j, &["x", "y"]), vec!["x", "y"]);
    }

    #[test]
    fn leading_continuation_lines() {
        let mut j = joiner(10);
        let events = run(&mut j, &["\tat x", "\tat y", "2024-05-01 a", "", "c"]);
        assert_eq!(events, vec!["\tat x\n\tat y", "2024-05-01 a\n\nc"]);
    }

    #[test]
    fn empty_input() {
        assert_eq!(run(&mut joiner(5), &[]), Vec::<String>::new());
    }
}
