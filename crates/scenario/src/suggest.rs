//! "Did you mean …?" for misspelt names.

/// The candidate closest to `input`, when one is close enough to be a likely
/// typo: equal ignoring case, `_` and `-` (so k6's `preAllocatedVUs` finds
/// `pre_allocated_vus`), or within a small edit distance.
pub fn did_you_mean<'a>(input: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let normal = normalize(input);
    let limit = (input.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == input {
            continue;
        }
        let candidate_normal = normalize(candidate);
        let distance = if candidate_normal == normal {
            0
        } else if candidate_normal.len() >= 4
            && normal.len() >= 4
            && (normal.starts_with(&candidate_normal) || candidate_normal.starts_with(&normal))
        {
            // A longer or shorter spelling of the same word (`random_integer`).
            limit
        } else {
            edit_distance(input, candidate)
        };
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

fn normalize(s: &str) -> String {
    s.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

/// Edit distance counting a swap of two neighbouring characters as one edit
/// (the optimal-string-alignment distance: `pgae` is one edit from `page`),
/// the commonest typo. Inputs here are short names; longer ones are cut.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    // Rows i-2, i-1 and i of the distance table.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && *ca == b[j - 1] && a[i - 1] == *cb {
                cur[j + 1] = cur[j + 1].min(before[j - 1] + 1);
            }
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["vus", "duration", "pre_allocated_vus", "max_vus"];
        assert_eq!(did_you_mean("vuss", names.into_iter()), Some("vus"));
        assert_eq!(did_you_mean("duraton", names.into_iter()), Some("duration"));
        assert_eq!(did_you_mean("preAllocatedVUs", names.into_iter()), Some("pre_allocated_vus"));
        assert_eq!(did_you_mean("banana", names.into_iter()), None);
        assert_eq!(did_you_mean("pgae", ["page", "name"].into_iter()), Some("page"));
        assert_eq!(edit_distance("abcd", "acbd"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(did_you_mean("random_integer", ["random_int", "random_choice"].into_iter()), Some("random_int"));
    }
}
