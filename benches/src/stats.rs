//! Order statistics over samples: median and percentiles.
//!
//! Percentiles interpolate linearly between the two nearest ranks (numpy's default,
//! "type 7"): for sorted values x_0..x_{n-1}, the p-th percentile sits at rank
//! h = (n − 1)·p/100 and is x_⌊h⌋ + (h − ⌊h⌋)·(x_⌊h⌋+1 − x_⌊h⌋).

/// The `p`-th percentile (0 ≤ p ≤ 100) of `values`; `None` for no values. NaNs sort last.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (sorted.len() - 1) as f64 * p.clamp(0.0, 100.0) / 100.0;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    Some(sorted[lo] + (rank - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// The median of `values`; `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    percentile(values, 50.0)
}

/// Median and 90th percentile of a sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The 90th percentile.
    pub p90: f64,
}

impl Spread {
    /// The spread of `values` (zeros for no values).
    pub fn of(values: &[f64]) -> Spread {
        Spread {
            median: median(values).unwrap_or(0.0),
            p90: percentile(values, 90.0).unwrap_or(0.0),
        }
    }

    /// The spread of integer counts (exact as long as they stay below 2^53).
    pub fn of_counts(values: &[u64]) -> Spread {
        let values: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        Spread::of(&values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // numpy.percentile / numpy.median give the same values.
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        let one_to_ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let p90 = percentile(&one_to_ten, 90.0).unwrap();
        assert!((p90 - 9.1).abs() < 1e-12, "{p90}");
        assert_eq!(percentile(&one_to_ten, 0.0), Some(1.0));
        assert_eq!(percentile(&one_to_ten, 100.0), Some(10.0));
        assert_eq!(percentile(&[5.0], 90.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
        let p90 = percentile(&[10.0, 20.0, 30.0, 40.0, 50.0], 90.0).unwrap();
        assert!((p90 - 46.0).abs() < 1e-12, "{p90}");
    }

    #[test]
    fn spread_of_counts_and_of_nothing() {
        let s = Spread::of_counts(&[100, 100, 100]);
        assert_eq!((s.median, s.p90), (100.0, 100.0));
        assert_eq!(Spread::of(&[]), Spread::default());
    }
}
