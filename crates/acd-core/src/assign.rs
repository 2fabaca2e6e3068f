//! Joint assignment of several ready calls to several free agents.
//!
//! Assigning one call at a time, each to its best agent, can take the only agent a later call
//! could use and leave that call waiting while another agent sits idle. When several calls and
//! agents become ready together, the engine instead solves the assignment problem on that
//! (bounded) ready set, rows in serving order: serve as many calls as possible, choosing which
//! ones in serving order ([`in_serving_order`]), then give them the agents with the best total
//! preference. The solvers are augmenting paths (Kuhn) for the first part and the Hungarian
//! algorithm with potentials for the second, both O(n³) in the side of the set.

/// Scores for (row, column) pairs; `None` where the pair is not allowed.
pub type ScoreMatrix = [Vec<Option<f64>>];

/// The column assigned to each row (or `None`), maximising first the number of assigned rows
/// and then the sum of their scores. Rows may have different lengths; missing entries are
/// not allowed.
pub fn joint(scores: &ScoreMatrix) -> Vec<Option<usize>> {
    let rows = scores.len();
    let cols = scores.iter().map(Vec::len).max().unwrap_or(0);
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    if rows == 1 {
        return vec![best_in_row(&scores[0], &[])];
    }
    if cols == 1 {
        let mut out = vec![None; rows];
        if let Some(row) = best_row_for_column(scores, 0) {
            out[row] = Some(0);
        }
        return out;
    }
    hungarian(scores, rows, cols).unwrap_or_else(|| greedy(scores))
}

/// The assignment for rows given in serving order: as many rows as possible are served, and
/// which ones is decided in row order (a row is left unserved only when serving it would cost an
/// earlier row its place or lower the number served); the served rows then get the columns
/// with the highest total score.
pub fn in_serving_order(scores: &ScoreMatrix) -> Vec<Option<usize>> {
    let rows = scores.len();
    let cols = scores.iter().map(Vec::len).max().unwrap_or(0);
    // Kuhn's augmenting paths, one row at a time in order: an augmenting path never unmatches
    // a row, so the matched set is the earliest-first maximal one (a transversal matroid's
    // greedy basis).
    let mut col_row: Vec<Option<usize>> = vec![None; cols];
    for r in 0..rows {
        let mut visited = vec![false; cols];
        augment(scores, r, &mut col_row, &mut visited);
    }
    let chosen: Vec<usize> = (0..rows).filter(|r| col_row.contains(&Some(*r))).collect();
    let sub: Vec<Vec<Option<f64>>> = chosen.iter().map(|r| scores[*r].clone()).collect();
    let best = joint(&sub);
    let mut out = vec![None; rows];
    for (i, r) in chosen.iter().enumerate() {
        out[*r] = best.get(i).copied().flatten();
    }
    out
}

fn augment(
    scores: &ScoreMatrix,
    r: usize,
    col_row: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    for c in 0..col_row.len() {
        if visited[c] || scores[r].get(c).copied().flatten().is_none() {
            continue;
        }
        visited[c] = true;
        let free = match col_row[c] {
            None => true,
            Some(other) => augment(scores, other, col_row, visited),
        };
        if free {
            col_row[c] = Some(r);
            return true;
        }
    }
    false
}

/// One row at a time, in row order, each taking its best free column: what a one-by-one
/// dispatcher does. Used when the ready set exceeds the joint bound, and in tests to show
/// what the joint solution gains.
pub fn greedy(scores: &ScoreMatrix) -> Vec<Option<usize>> {
    let mut taken: Vec<usize> = Vec::new();
    scores
        .iter()
        .map(|row| {
            let pick = best_in_row(row, &taken);
            if let Some(col) = pick {
                taken.push(col);
            }
            pick
        })
        .collect()
}

/// Sum of scores of an assignment (for tests and explanations).
pub fn total(scores: &ScoreMatrix, assignment: &[Option<usize>]) -> f64 {
    assignment
        .iter()
        .enumerate()
        .filter_map(|(r, c)| c.and_then(|c| scores[r].get(c).copied().flatten()))
        .sum()
}

fn best_in_row(row: &[Option<f64>], taken: &[usize]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (col, score) in row.iter().enumerate() {
        if let Some(s) = score {
            if taken.contains(&col) {
                continue;
            }
            if best.is_none_or(|(_, b)| *s > b) {
                best = Some((col, *s));
            }
        }
    }
    best.map(|(c, _)| c)
}

fn best_row_for_column(scores: &ScoreMatrix, col: usize) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (r, row) in scores.iter().enumerate() {
        if let Some(Some(s)) = row.get(col) {
            if best.is_none_or(|(_, b)| *s > b) {
                best = Some((r, *s));
            }
        }
    }
    best.map(|(r, _)| r)
}

/// Minimum-cost perfect matching on the square padding of the matrix. Allowed pairs cost
/// `max - score` (in [0, range]); a real row left unserved (forbidden pair or padding column)
/// costs more than any set of allowed pairs together, so cardinality is maximised first.
fn hungarian(scores: &ScoreMatrix, rows: usize, cols: usize) -> Option<Vec<Option<usize>>> {
    let n = rows.max(cols);
    let allowed = || scores.iter().flat_map(|r| r.iter().flatten().copied());
    let max = allowed().fold(f64::NEG_INFINITY, f64::max);
    let min = allowed().fold(f64::INFINITY, f64::min);
    if !max.is_finite() || !min.is_finite() {
        return Some(vec![None; rows]);
    }
    let range = max - min;
    let unserved = (range + 1.0) * (n as f64 + 1.0);
    let cost = |r: usize, c: usize| -> f64 {
        if r >= rows {
            return 0.0;
        }
        match scores[r].get(c).copied().flatten() {
            Some(s) => max - s,
            None => unserved,
        }
    };

    // 1-based potentials formulation: p[j] is the row matched to column j (0 = none).
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            if j1 == 0 || !delta.is_finite() {
                return None;
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; rows];
    for (j, &r) in p.iter().enumerate().skip(1) {
        if r >= 1 && r <= rows && j <= cols && scores[r - 1].get(j - 1).copied().flatten().is_some()
        {
            out[r - 1] = Some(j - 1);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn served(a: &[Option<usize>]) -> usize {
        a.iter().flatten().count()
    }

    #[test]
    fn joint_serves_both_calls_where_greedy_strands_one() {
        // Call 0 (oldest) fits agent 0 best but can also take agent 1; call 1 can only take
        // agent 0. Greedy gives agent 0 to call 0 and strands call 1.
        let m = vec![vec![Some(90.0), Some(80.0)], vec![Some(70.0), None]];
        let g = greedy(&m);
        let j = joint(&m);
        assert_eq!(g, vec![Some(0), None]);
        assert_eq!(j, vec![Some(1), Some(0)]);
        assert!(total(&m, &j) > total(&m, &g));
    }

    #[test]
    fn joint_improves_total_score_at_equal_cardinality() {
        let m = vec![vec![Some(10.0), Some(9.0)], vec![Some(9.0), Some(1.0)]];
        assert_eq!(greedy(&m), vec![Some(0), Some(1)]);
        assert_eq!(joint(&m), vec![Some(1), Some(0)]);
    }

    #[test]
    fn the_earlier_row_is_served_when_only_one_can_be() {
        // Both calls may take the only agent; the second would score it higher.
        let m = vec![vec![Some(1.0)], vec![Some(5.0)]];
        assert_eq!(in_serving_order(&m), vec![Some(0), None]);
        // Serving more still comes first: row 0 gives up its preferred column.
        let m = vec![vec![Some(9.0), Some(1.0)], vec![Some(1.0), None]];
        assert_eq!(in_serving_order(&m), vec![Some(1), Some(0)]);
    }

    #[test]
    fn rectangular_and_degenerate() {
        assert_eq!(joint(&[]), Vec::<Option<usize>>::new());
        assert_eq!(joint(&[vec![None, Some(1.0), Some(3.0)]]), vec![Some(2)]);
        assert_eq!(
            joint(&[vec![Some(1.0)], vec![Some(2.0)]]),
            vec![None, Some(0)]
        );
        let m = vec![
            vec![Some(5.0), Some(1.0), Some(1.0)],
            vec![Some(5.0), Some(4.0), None],
        ];
        assert_eq!(joint(&m), vec![Some(0), Some(1)]);
        let m = vec![vec![Some(1.0)], vec![None], vec![Some(3.0)]];
        assert_eq!(joint(&m), vec![None, None, Some(0)]);
    }

    fn brute(m: &[Vec<Option<f64>>], row: usize, used: &mut Vec<bool>) -> (usize, f64) {
        if row == m.len() {
            return (0, 0.0);
        }
        let mut best = brute(m, row + 1, used);
        for c in 0..used.len() {
            if let Some(s) = m[row][c] {
                if !used[c] {
                    used[c] = true;
                    let (n, t) = brute(m, row + 1, used);
                    used[c] = false;
                    let cand = (n + 1, t + s);
                    if cand.0 > best.0 || (cand.0 == best.0 && cand.1 > best.1 + 1e-9) {
                        best = cand;
                    }
                }
            }
        }
        best
    }

    proptest! {
        #[test]
        fn joint_is_optimal_and_valid(
            rows in 1usize..6, cols in 1usize..6,
            cells in proptest::collection::vec(proptest::option::weighted(0.7, 0.0f64..100.0), 36)
        ) {
            let m: Vec<Vec<Option<f64>>> =
                (0..rows).map(|r| (0..cols).map(|c| cells[r * 6 + c]).collect()).collect();
            let a = joint(&m);
            let mut seen = vec![false; cols];
            for (r, c) in a.iter().enumerate() {
                if let Some(c) = c {
                    prop_assert!(m[r][*c].is_some());
                    prop_assert!(!seen[*c]);
                    seen[*c] = true;
                }
            }
            let (n, t) = brute(&m, 0, &mut vec![false; cols]);
            prop_assert_eq!(served(&a), n);
            prop_assert!((total(&m, &a) - t).abs() < 1e-6);
            prop_assert!(served(&a) >= served(&greedy(&m)));
        }

        #[test]
        fn serving_order_serves_the_most_rows_earliest_first(
            rows in 1usize..6, cols in 1usize..6,
            cells in proptest::collection::vec(proptest::option::weighted(0.5, 0.0f64..10.0), 36)
        ) {
            let m: Vec<Vec<Option<f64>>> =
                (0..rows).map(|r| (0..cols).map(|c| cells[r * 6 + c]).collect()).collect();
            let a = in_serving_order(&m);
            let (n, _) = brute(&m, 0, &mut vec![false; cols]);
            prop_assert_eq!(served(&a), n);
            // No unserved row could be served in place of a later served row.
            let served_rows: Vec<usize> = (0..rows).filter(|r| a[*r].is_some()).collect();
            for skipped in (0..rows).filter(|r| a[*r].is_none()) {
                for later in served_rows.iter().filter(|r| **r > skipped) {
                    let alt: Vec<Vec<Option<f64>>> = m
                        .iter()
                        .enumerate()
                        .map(|(r, row)| {
                            let keep = (served_rows.contains(&r) && r != *later) || r == skipped;
                            if keep { row.clone() } else { vec![None; cols] }
                        })
                        .collect();
                    let (alt_n, _) = brute(&alt, 0, &mut vec![false; cols]);
                    prop_assert!(alt_n < n, "row {} could replace row {}", skipped, later);
                }
            }
        }
    }
}
