"""Protocols of public benchmarks: the published splits, feature sets and scores, run on emberxr.

- :mod:`emberxr.benchmarks.wildfirespreadts`: WildfireSpreadTS (Gerard et al. 2023; the tuned
  numbers of Lahrichi et al. 2026) — 12 year folds, per-fold normalisation, next-day active fire,
  test AP pooled over pixels, the same test samples for 1–5 input days, feature sets Veg / Multi /
  All;
- :mod:`emberxr.benchmarks.ndws`: Next Day Wildfire Spread (Huot et al. 2022) — the published
  train / eval / test files, fire-class AUC-PR, precision, recall and F1 with unknown labels masked,
  the threshold chosen on the eval files.

``emberxr benchmark wildfirespreadts|ndws`` runs them from the shell (:mod:`emberxr.cli.benchmark_public`);
``docs/benchmarks-public.md`` says how to get the data and how emberxr's numbers compare.
"""
