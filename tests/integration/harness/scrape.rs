//! Values out of a Prometheus text exposition (`GET /metrics`): one parser, three
//! questions (an exact series, the first sample with some labels, the sum over them).

/// The samples of a scrape as (series, value text); comment lines skipped.
fn samples(scrape: &str) -> impl Iterator<Item = (&str, &str)> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
}

/// True when `series` is of metric `name` and its labels include every `labels` pair.
fn has_labels(series: &str, name: &str, labels: &[(&str, &str)]) -> bool {
    let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
    metric == name
        && labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
}

/// The value of the series `name{labels}` (exact label set) in a scrape.
pub fn metric(scrape: &str, series: &str) -> Option<f64> {
    samples(scrape).find_map(|(s, v)| (s == series).then(|| v.parse().ok()).flatten())
}

/// The first sample of metric `name` whose labels include every `labels` pair, e.g.
/// `sample(scrape, "failoverd_target_active", &[("target", "main")])`.
pub fn sample(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(scrape).find_map(|(s, v)| {
        has_labels(s, name, labels)
            .then(|| v.parse().ok())
            .flatten()
    })
}

/// Sum of the samples of `name` whose labels include every `labels` pair.
pub fn metric_sum(scrape: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(scrape)
        .filter(|(s, _)| has_labels(s, name, labels))
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}
