//! Goals and their verdicts, kept per build profile in a small tab-separated file so that
//! the runs of several profiles can be summed up in one table.

use crate::Table;

/// One goal's outcome in one profile's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalRow {
    /// What is measured, against what.
    pub goal: String,
    /// The goal, e.g. `≤ 0.60` or `≤ 256 B`.
    pub target: String,
    /// Ours: ns per unit (median and quartiles), bytes, instructions.
    pub ours: String,
    /// The peer's, in the same unit ("—" without a peer).
    pub peer: String,
    /// The figure the goal is about: a ratio with its quartiles, or a value.
    pub measured: String,
    /// `**met**`, `**missed** by …` or `not measured`.
    pub verdict: String,
}

impl GoalRow {
    /// A goal that was not measured in this run (filtered out, or no data).
    pub fn not_measured(goal: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            goal: goal.into(),
            target: target.into(),
            ours: "—".into(),
            peer: "—".into(),
            measured: "—".into(),
            verdict: "not measured".into(),
        }
    }

    /// One line, the fields separated by tabs (tabs and newlines inside a field become
    /// spaces).
    pub fn to_line(&self) -> String {
        [&self.goal, &self.target, &self.ours, &self.peer, &self.measured, &self.verdict]
            .map(|f| f.replace(['\t', '\n'], " "))
            .join("\t")
    }

    /// The row [`to_line`](Self::to_line) wrote, `None` for a line of another shape.
    pub fn from_line(line: &str) -> Option<Self> {
        let mut f = line.split('\t').map(str::to_owned);
        let row = Self {
            goal: f.next()?,
            target: f.next()?,
            ours: f.next()?,
            peer: f.next()?,
            measured: f.next()?,
            verdict: f.next()?,
        };
        f.next().is_none().then_some(row)
    }
}

/// The verdict on a figure that must be at most `max`: met, or missed by the factor
/// `measured / max`.
pub fn at_most(measured: f64, max: f64) -> String {
    if measured <= max { "**met**".into() } else { format!("**missed** by {:.2}×", measured / max) }
}

/// The verdict on a figure that must be at least `min`: met, or missed by `min / measured`.
pub fn at_least(measured: f64, min: f64) -> String {
    if measured >= min { "**met**".into() } else { format!("**missed** by {:.2}×", min / measured) }
}

/// One profile's goal table: every column of its rows.
pub fn profile_table(rows: &[GoalRow]) -> String {
    let mut t = Table::new(&["goal", "ours", "peer", "measured", "target", "verdict"]);
    for r in rows {
        t.row(&[
            r.goal.clone(),
            r.ours.clone(),
            r.peer.clone(),
            r.measured.clone(),
            r.target.clone(),
            r.verdict.clone(),
        ]);
    }
    t.finish()
}

/// The goals of several profiles side by side: a row per goal (in the order of their first
/// appearance), the measured figure and the verdict of each profile.
pub fn summary_table(profiles: &[(String, Vec<GoalRow>)]) -> String {
    let mut headers = vec!["goal".to_owned(), "target".to_owned()];
    for (name, _) in profiles {
        headers.push(format!("`{name}`: measured"));
        headers.push(format!("`{name}`: verdict"));
    }
    let mut goals: Vec<(&str, &str)> = Vec::new();
    for (_, rows) in profiles {
        for r in rows {
            if !goals.iter().any(|(g, _)| *g == r.goal) {
                goals.push((&r.goal, &r.target));
            }
        }
    }
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut t = Table::new(&headers);
    for (goal, target) in goals {
        let mut cells = vec![goal.to_owned(), target.to_owned()];
        for (_, rows) in profiles {
            match rows.iter().find(|r| r.goal == goal) {
                Some(r) => cells.extend([r.measured.clone(), r.verdict.clone()]),
                None => cells.extend(["—".to_owned(), "not measured".to_owned()]),
            }
        }
        t.row(&cells);
    }
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(goal: &str, measured: &str) -> GoalRow {
        GoalRow {
            goal: goal.into(),
            target: "≤ 1.00".into(),
            ours: "1".into(),
            peer: "2".into(),
            measured: measured.into(),
            verdict: "**met**".into(),
        }
    }

    #[test]
    fn a_row_survives_its_line() {
        let r = row("a\tb", "0.5 (0.4–0.6)");
        let back = GoalRow::from_line(&r.to_line()).unwrap_or_else(|| unreachable!());
        assert_eq!(back.goal, "a b");
        assert_eq!(back.measured, r.measured);
        assert!(GoalRow::from_line("too\tfew").is_none());
        assert!(GoalRow::from_line("a\tb\tc\td\te\tf\tg").is_none());
    }

    #[test]
    fn verdicts_say_by_how_much() {
        assert_eq!(at_most(0.5, 0.6), "**met**");
        assert_eq!(at_most(0.9, 0.6), "**missed** by 1.50×");
        assert_eq!(at_least(2.0, 1.0), "**met**");
        assert_eq!(at_least(0.5, 1.0), "**missed** by 2.00×");
    }

    #[test]
    fn the_summary_lines_up_profiles() {
        let a = vec![row("g1", "0.5"), row("g2", "0.7")];
        let b = vec![row("g2", "0.8")];
        let t = summary_table(&[("bench".into(), a), ("bench-lto".into(), b)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].contains("`bench-lto`: measured"));
        assert_eq!(lines[2], "| g1 | ≤ 1.00 | 0.5 | **met** | — | not measured |");
        assert_eq!(lines[3], "| g2 | ≤ 1.00 | 0.7 | **met** | 0.8 | **met** |");
    }
}
