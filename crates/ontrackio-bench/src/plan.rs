//! Who signs in, in which order: half first-time users (no row in the product's database
//! yet: provisioned just in time), half returning users (rows pre-populated, matched by
//! their Entra object id), interleaved and spread over the workspaces.

use std::collections::BTreeSet;

/// A step coprime with most table sizes, so returning users are spread over the table
/// instead of being its first rows.
const SPREAD: u64 = 7919;

pub struct Planner {
    workspaces: usize,
    existing_per_workspace: u64,
    /// Next unused first-time user number per workspace.
    next_new: Vec<u64>,
    /// Returning users handed out per workspace.
    next_returning: Vec<u64>,
    pub accounts: BTreeSet<(usize, u64)>,
}

impl Planner {
    pub fn new(workspaces: usize, existing_per_workspace: u64) -> Self {
        Self {
            workspaces,
            existing_per_workspace,
            next_new: vec![existing_per_workspace; workspaces],
            next_returning: vec![0; workspaces],
            accounts: BTreeSet::new(),
        }
    }

    /// `n` returning users of workspace `ws` (rows already in the database), spread over it.
    pub fn returning(&mut self, ws: usize, n: usize) -> Vec<(usize, u64)> {
        let per = self.existing_per_workspace.max(1);
        let out: Vec<(usize, u64)> = (0..n as u64)
            .map(|r| (ws, (r * SPREAD + 13) % per))
            .collect();
        self.accounts.extend(out.iter().copied());
        out
    }

    /// `n` sign-ins: even positions first-time, odd ones returning (first-time when the
    /// database holds nobody to return).
    pub fn sign_ins(&mut self, n: usize) -> Vec<(usize, u64)> {
        let mut out = Vec::with_capacity(n);
        for k in 0..n {
            let ws = (k / 2) % self.workspaces;
            let j = if k % 2 == 1 && self.existing_per_workspace > 0 {
                let r = self.next_returning[ws];
                self.next_returning[ws] += 1;
                (r * SPREAD + 13) % self.existing_per_workspace
            } else {
                let j = self.next_new[ws];
                self.next_new[ws] += 1;
                j
            };
            self.accounts.insert((ws, j));
            out.push((ws, j));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_are_new_and_half_return_across_workspaces() {
        let mut p = Planner::new(3, 100);
        let plan = p.sign_ins(12);
        let new = plan.iter().filter(|(_, j)| *j >= 100).count();
        assert_eq!(new, 6);
        assert!((0..3).all(|ws| plan.iter().any(|(w, _)| *w == ws)));
        // First-time users are never handed out twice.
        let more = p.sign_ins(12);
        let firsts: BTreeSet<_> = plan
            .iter()
            .chain(&more)
            .filter(|(_, j)| *j >= 100)
            .collect();
        assert_eq!(firsts.len(), 12);
        assert_eq!(
            p.accounts.len(),
            plan.iter().chain(&more).collect::<BTreeSet<_>>().len()
        );
    }
}
