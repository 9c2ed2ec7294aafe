//! The distributions the generator draws from, over churnguard's one SplitMix64 (fixed, so a
//! seed gives the same data set forever: `churnguard synth --seed 7` never changes).

use churnguard_eval::SplitMix64;

/// A SplitMix64 stream with the distributions of the simulation.
#[derive(Clone, Debug)]
pub struct Rng(SplitMix64);

impl Rng {
    /// A generator for one stream, such as one customer of one seed.
    pub fn new(seed: u64, stream: u64) -> Self {
        Rng(SplitMix64::stream(seed, stream))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in (0, 1): never exactly 0, so logarithms are safe.
    pub fn uniform(&mut self) -> f64 {
        self.0.open_unit()
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform().ln()
    }

    /// Standard normal (Box-Muller; one of the pair is discarded for simplicity).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Log-normal: `exp(mu + sigma * N(0, 1))`.
    pub fn log_normal(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }

    /// Gamma with the given shape and scale (Marsaglia and Tsang).
    pub fn gamma(&mut self, shape: f64, scale: f64) -> f64 {
        if shape < 1.0 {
            // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
            let u = self.uniform();
            return self.gamma(shape + 1.0, scale) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v * scale;
            }
        }
    }

    /// Poisson with the given mean (Knuth's method; the means used here are small).
    pub fn poisson(&mut self, mean: f64) -> u32 {
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = self.uniform();
        while p > limit {
            k += 1;
            p *= self.uniform();
        }
        k
    }

    /// One index drawn with the given weights (which sum to 1).
    pub fn pick(&mut self, weights: &[f64]) -> usize {
        let mut u = self.uniform();
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return i;
            }
            u -= w;
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        (m, xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64)
    }

    #[test]
    fn distributions_have_their_moments() {
        let mut r = Rng::new(1, 2);
        let n = 200_000;
        let (m, v) = mean_var(&(0..n).map(|_| r.gamma(1.5, 2.0)).collect::<Vec<_>>());
        assert!((m - 3.0).abs() < 0.05 && (v - 6.0).abs() < 0.2, "gamma {m} {v}");
        let (m, v) = mean_var(&(0..n).map(|_| r.gamma(0.5, 1.0)).collect::<Vec<_>>());
        assert!((m - 0.5).abs() < 0.02 && (v - 0.5).abs() < 0.03, "gamma<1 {m} {v}");
        let (m, _) = mean_var(&(0..n).map(|_| r.exponential(4.0)).collect::<Vec<_>>());
        assert!((m - 4.0).abs() < 0.05, "exp {m}");
        let (m, v) = mean_var(&(0..n).map(|_| r.normal()).collect::<Vec<_>>());
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.02, "normal {m} {v}");
        let (m, v) = mean_var(&(0..n).map(|_| f64::from(r.poisson(2.5))).collect::<Vec<_>>());
        assert!((m - 2.5).abs() < 0.03 && (v - 2.5).abs() < 0.06, "poisson {m} {v}");
    }

    #[test]
    fn same_seed_and_stream_same_numbers() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7, 3);
                move |_| r.next_u64()
            })
            .collect();
        let mut r = Rng::new(7, 3);
        assert!(a.iter().all(|x| *x == r.next_u64()));
        assert_ne!(Rng::new(7, 4).next_u64(), a[0]);
    }
}
