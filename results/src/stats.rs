//! The statistics, as pure functions of counts and sums.
//!
//! Every function returns `None` where the quantity is undefined (an empty
//! group, a zero baseline, a zero variance) instead of NaN, so that a report
//! never carries NaN or infinity into JSON.
//!
//! The lift intervals follow GrowthBook's `gbstats` 0.8 frequentist engine
//! (`gbstats/frequentist/tests.py`): relative difference, delta-method
//! variance, Welch–Satterthwaite degrees of freedom, Student's t quantile;
//! and its sequential test (Gaussian-mixture confidence sequence of
//! Waudby-Smith et al. 2023, eq. 9, with tuning parameter 5000).

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

/// Two-sided confidence level used throughout (95%).
pub const ALPHA: f64 = 0.05;

/// gbstats' default `sequential_tuning_parameter`: the sample size at which
/// the confidence sequence is tightest.
pub const SEQUENTIAL_TUNING: f64 = 5000.0;

/// An interval `[lo, hi]`; serialised as a two-element JSON array.
pub type Interval = [f64; 2];

/// Summary of one group's per-unit values: the sufficient statistics gbstats
/// calls `SampleMeanStatistic` (for values) or `ProportionStatistic` (for 0/1
/// conversions, where `sum_squares == sum`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Moments {
    pub n: u64,
    pub sum: f64,
    pub sum_squares: f64,
}

impl Moments {
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// Unbiased sample variance (n - 1 denominator), as gbstats'
    /// `SampleMeanStatistic.variance`.
    pub fn sample_variance(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        // Clamped: cancellation can make an all-equal sample slightly negative.
        Some(((self.sum_squares - self.sum * self.sum / n) / (n - 1.0)).max(0.0))
    }
}

/// Which variance a group's statistic uses, as gbstats distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatisticKind {
    /// `ProportionStatistic`: variance p(1-p), the population (n) form.
    Proportion,
    /// `SampleMeanStatistic`: the unbiased (n-1) sample variance.
    SampleMean,
}

fn variance_of(kind: StatisticKind, m: &Moments) -> Option<f64> {
    match kind {
        StatisticKind::Proportion => m.mean().map(|p| p * (1.0 - p)),
        StatisticKind::SampleMean => m.sample_variance(),
    }
}

/// `x > 0`, false for NaN: the guards below reject NaN along with zero.
fn is_positive(x: f64) -> bool {
    x > 0.0
}

fn standard_normal() -> Normal {
    Normal::standard()
}

/// The two-sided standard normal quantile z_{1-alpha/2} (1.959963984540054).
pub fn z_two_sided(alpha: f64) -> f64 {
    standard_normal().inverse_cdf(1.0 - alpha / 2.0)
}

/// Student's t quantile. statrs computes it through the inverse regularised
/// incomplete beta function, which loses accuracy for very large degrees of
/// freedom; past 1e7 the t and normal quantiles differ by less than 1e-7.
pub fn t_quantile(p: f64, dof: f64) -> Option<f64> {
    if !is_positive(dof) || !(0.0..=1.0).contains(&p) {
        return None;
    }
    if dof > 1e7 {
        return Some(standard_normal().inverse_cdf(p));
    }
    let t = StudentsT::new(0.0, 1.0, dof).ok()?;
    Some(t.inverse_cdf(p))
}

/// Upper tail P(T > |t|) * 2 for Student's t.
fn t_two_sided_p(t: f64, dof: f64) -> Option<f64> {
    let dist = StudentsT::new(0.0, 1.0, dof).ok()?;
    Some((2.0 * dist.sf(t.abs())).min(1.0))
}

/// Wilson score interval for a binomial proportion (as statsmodels
/// `proportion_confint(method="wilson")`).
pub fn wilson_interval(successes: u64, n: u64, alpha: f64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z = z_two_sided(alpha);
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = z / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some([center - half, center + half])
}

/// Student's t interval for a mean: mean ± t_{1-alpha/2, n-1} · s/√n
/// (as `scipy.stats.t.interval(1-alpha, n-1, loc=mean, scale=sem)`).
pub fn mean_interval(m: &Moments, alpha: f64) -> Option<Interval> {
    let mean = m.mean()?;
    let variance = m.sample_variance()?;
    let half = t_quantile(1.0 - alpha / 2.0, (m.n - 1) as f64)? * (variance / m.n as f64).sqrt();
    Some([mean - half, mean + half])
}

/// Two-sided two-proportion z-test with the pooled variance (as statsmodels
/// `proportions_ztest([c_t, c_c], [n_t, n_c])`).
pub fn two_proportion_p_value(
    converted_t: u64,
    n_t: u64,
    converted_c: u64,
    n_c: u64,
) -> Option<f64> {
    if n_t == 0 || n_c == 0 {
        return None;
    }
    let (nt, nc) = (n_t as f64, n_c as f64);
    let pooled = (converted_t + converted_c) as f64 / (nt + nc);
    let se = (pooled * (1.0 - pooled) * (1.0 / nt + 1.0 / nc)).sqrt();
    if !is_positive(se) {
        return None;
    }
    let z = (converted_t as f64 / nt - converted_c as f64 / nc) / se;
    Some((2.0 * standard_normal().sf(z.abs())).min(1.0))
}

/// Welch's unequal-variance t-test on the difference of means (as
/// `scipy.stats.ttest_ind(t, c, equal_var=False)`), two-sided.
pub fn welch_p_value(treatment: &Moments, control: &Moments) -> Option<f64> {
    let (vt, vc) = (treatment.sample_variance()?, control.sample_variance()?);
    let (nt, nc) = (treatment.n as f64, control.n as f64);
    let se2 = vt / nt + vc / nc;
    if !is_positive(se2) {
        return None;
    }
    let dof = welch_dof(vt, nt, vc, nc)?;
    let t = (treatment.mean()? - control.mean()?) / se2.sqrt();
    t_two_sided_p(t, dof)
}

/// Welch–Satterthwaite degrees of freedom.
fn welch_dof(var_t: f64, n_t: f64, var_c: f64, n_c: f64) -> Option<f64> {
    let numerator = (var_t / n_t + var_c / n_c).powi(2);
    let denominator =
        var_t.powi(2) / (n_t.powi(2) * (n_t - 1.0)) + var_c.powi(2) / (n_c.powi(2) * (n_c - 1.0));
    let dof = numerator / denominator;
    (dof.is_finite() && dof > 0.0).then_some(dof)
}

/// The relative lift (t - c) / c and its delta-method variance, exactly as
/// gbstats' `TTest` with `difference_type="relative"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelativeLift {
    pub lift: f64,
    pub variance: f64,
    pub dof: f64,
    /// Units in both groups (gbstats' N for the sequential interval).
    pub total_n: f64,
}

impl RelativeLift {
    /// `None` where gbstats returns its "uninformative" default: a zero
    /// baseline mean or a zero variance in either group, or fewer than two
    /// units in either group (no degrees of freedom).
    pub fn new(kind: StatisticKind, treatment: &Moments, control: &Moments) -> Option<Self> {
        if treatment.n < 2 || control.n < 2 {
            return None;
        }
        let (mean_t, mean_c) = (treatment.mean()?, control.mean()?);
        let (var_t, var_c) = (variance_of(kind, treatment)?, variance_of(kind, control)?);
        if mean_c == 0.0 || !is_positive(var_t) || !is_positive(var_c) {
            return None;
        }
        let (n_t, n_c) = (treatment.n as f64, control.n as f64);
        let lift = (mean_t - mean_c) / mean_c;
        let variance =
            var_t / (mean_c.powi(2) * n_t) + var_c * mean_t.powi(2) / (mean_c.powi(4) * n_c);
        let dof = welch_dof(var_t, n_t, var_c, n_c)?;
        Some(Self {
            lift,
            variance,
            dof,
            total_n: n_t + n_c,
        })
    }

    /// gbstats `TwoSidedTTest.confidence_interval`.
    pub fn interval(&self, alpha: f64) -> Option<Interval> {
        let half = t_quantile(1.0 - alpha / 2.0, self.dof)? * self.variance.sqrt();
        Some([self.lift - half, self.lift + half])
    }

    /// gbstats `SequentialTwoSidedTTest.confidence_interval`: an always-valid
    /// interval, so it may be looked at after every new unit without
    /// inflating the false-positive rate.
    pub fn sequential_interval(&self, alpha: f64, tuning: f64) -> Option<Interval> {
        let n = self.total_n;
        // eq. 161 of Waudby-Smith et al.: the mixture's rho tuned for `tuning` units.
        let rho2 = (-2.0 * alpha.ln() + (-2.0 * alpha.ln() + 1.0).ln()) / tuning;
        let s2 = self.variance * n;
        let nr2p1 = n * rho2 + 1.0;
        let half = s2.sqrt() * (2.0 * nr2p1 * (nr2p1.sqrt() / alpha).ln() / (n * n * rho2)).sqrt();
        half.is_finite()
            .then_some([self.lift - half, self.lift + half])
    }
}

/// Relative difference (t - c) / c, or `None` for a zero or missing baseline.
pub fn relative_difference(treatment: Option<f64>, control: Option<f64>) -> Option<f64> {
    let (t, c) = (treatment?, control?);
    (c != 0.0).then(|| (t - c) / c)
}

/// Pearson's chi-squared goodness of fit of `observed` counts against
/// `expected_shares` (normalised here), as `scipy.stats.chisquare`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChiSquaredFit {
    pub chi2: f64,
    pub dof: u32,
}

impl ChiSquaredFit {
    /// `None` with fewer than two categories, no observations, or a category
    /// expected to receive nothing.
    pub fn new(observed: &[u64], expected_shares: &[f64]) -> Option<Self> {
        if observed.len() != expected_shares.len() || observed.len() < 2 {
            return None;
        }
        let total: u64 = observed.iter().sum();
        let share_total: f64 = expected_shares.iter().sum();
        if total == 0 || !is_positive(share_total) {
            return None;
        }
        let mut chi2 = 0.0;
        for (&o, &share) in observed.iter().zip(expected_shares) {
            let expected = total as f64 * share / share_total;
            if !is_positive(expected) {
                return None;
            }
            chi2 += (o as f64 - expected).powi(2) / expected;
        }
        Some(Self {
            chi2,
            dof: observed.len() as u32 - 1,
        })
    }
}

/// Upper-tail p-value of a chi-squared statistic.
pub fn chi_squared_p_value(chi2: f64, dof: u32) -> Option<f64> {
    let dist = ChiSquared::new(dof as f64).ok()?;
    Some(dist.sf(chi2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1.0)
    }

    fn moments(values: &[f64]) -> Moments {
        Moments {
            n: values.len() as u64,
            sum: values.iter().sum(),
            sum_squares: values.iter().map(|v| v * v).sum(),
        }
    }

    // Reference values below were computed once with SciPy 1.17.1,
    // statsmodels 0.15.0 and gbstats 0.8.0 (the calls are quoted per test).

    #[test]
    fn normal_quantile() {
        assert!(close(z_two_sided(0.05), 1.959963984540054, 1e-12));
    }

    #[test]
    fn t_quantile_matches_scipy() {
        // scipy.stats.t.ppf(0.975, df)
        assert!(close(
            t_quantile(0.975, 1.0).unwrap(),
            12.706204736174694,
            1e-9
        ));
        assert!(close(
            t_quantile(0.975, 10.0).unwrap(),
            2.228138851986274,
            1e-9
        ));
        assert!(close(
            t_quantile(0.975, 1234.5).unwrap(),
            1.9618874833313453,
            1e-8
        ));
        assert!(close(
            t_quantile(0.975, 1e9).unwrap(),
            1.959963986912325,
            1e-8
        ));
        assert_eq!(t_quantile(0.975, 0.0), None);
    }

    #[test]
    fn wilson_matches_statsmodels() {
        // proportion_confint(30, 200, method="wilson")
        let [lo, hi] = wilson_interval(30, 200, 0.05).unwrap();
        assert!(close(lo, 0.10713593562241994, 1e-9), "{lo}");
        assert!(close(hi, 0.2060557928416666, 1e-9), "{hi}");
        let [lo, hi] = wilson_interval(0, 10, 0.05).unwrap();
        assert!(lo.abs() < 1e-15 && close(hi, 0.27753279986288926, 1e-9));
        assert_eq!(wilson_interval(0, 0, 0.05), None);
    }

    #[test]
    fn two_proportion_matches_statsmodels() {
        // proportions_ztest([60, 45], [500, 510])[1]
        let p = two_proportion_p_value(60, 500, 45, 510).unwrap();
        assert!(close(p, 0.09818852135329605, 1e-8), "{p}");
        assert_eq!(two_proportion_p_value(0, 10, 0, 10), None);
    }

    #[test]
    fn welch_matches_scipy() {
        // ttest_ind([1,2,3,4,10], [0,0,1,2], equal_var=False).pvalue
        let p = welch_p_value(
            &moments(&[1., 2., 3., 4., 10.]),
            &moments(&[0., 0., 1., 2.]),
        )
        .unwrap();
        assert!(close(p, 0.10976382487089913, 1e-8), "{p}");
    }

    #[test]
    fn mean_interval_matches_scipy() {
        // t.interval(0.95, 4, loc=4, scale=sem([1,2,3,4,10]))
        let [lo, hi] = mean_interval(&moments(&[1., 2., 3., 4., 10.]), 0.05).unwrap();
        assert!(close(lo, -0.3899451654254138, 1e-9), "{lo}");
        assert!(close(hi, 8.389945165425413, 1e-9), "{hi}");
        assert_eq!(mean_interval(&moments(&[3.0]), 0.05), None);
    }

    #[test]
    fn gbstats_relative_lift() {
        // TwoSidedTTest(ProportionStatistic(n=1000, sum=100), ProportionStatistic(n=1000, sum=120))
        let c = Moments {
            n: 1000,
            sum: 100.0,
            sum_squares: 100.0,
        };
        let t = Moments {
            n: 1000,
            sum: 120.0,
            sum_squares: 120.0,
        };
        let lift = RelativeLift::new(StatisticKind::Proportion, &t, &c).unwrap();
        assert!(close(lift.lift, 0.2, 1e-12));
        let [lo, hi] = lift.interval(0.05).unwrap();
        assert!(close(lo, -0.10076797484835626, 1e-8), "{lo}");
        assert!(close(hi, 0.500767974848356, 1e-8), "{hi}");
        // SequentialTwoSidedTTest(...).confidence_interval
        let [lo, hi] = lift.sequential_interval(0.05, SEQUENTIAL_TUNING).unwrap();
        assert!(close(lo, -0.2790699964885094, 1e-8), "{lo}");
        assert!(close(hi, 0.6790699964885092, 1e-8), "{hi}");
    }

    #[test]
    fn lift_undefined_for_zero_baseline_or_variance() {
        let zero = Moments {
            n: 100,
            sum: 0.0,
            sum_squares: 0.0,
        };
        let some = Moments {
            n: 100,
            sum: 10.0,
            sum_squares: 10.0,
        };
        assert_eq!(
            RelativeLift::new(StatisticKind::Proportion, &some, &zero),
            None
        );
        let all = Moments {
            n: 100,
            sum: 100.0,
            sum_squares: 100.0,
        };
        assert_eq!(
            RelativeLift::new(StatisticKind::Proportion, &all, &some),
            None
        );
    }

    #[test]
    fn chi_squared_matches_scipy() {
        // chisquare([520, 480], f_exp=[500, 500])
        let fit = ChiSquaredFit::new(&[520, 480], &[0.5, 0.5]).unwrap();
        assert!(close(fit.chi2, 1.6, 1e-12));
        assert_eq!(fit.dof, 1);
        let p = chi_squared_p_value(fit.chi2, fit.dof).unwrap();
        assert!(close(p, 0.20590321073206466, 1e-9), "{p}");
        // chisquare([300, 350, 350], f_exp=[334, 333, 333]) (shares 334/333/333)
        let fit = ChiSquaredFit::new(&[300, 350, 350], &[334.0, 333.0, 333.0]).unwrap();
        let p = chi_squared_p_value(fit.chi2, fit.dof).unwrap();
        assert!(close(fit.chi2, 5.196813580047113, 1e-9), "{}", fit.chi2);
        assert!(close(p, 0.07439200593519368, 1e-9), "{p}");
        assert_eq!(ChiSquaredFit::new(&[0, 0], &[0.5, 0.5]), None);
    }
}
