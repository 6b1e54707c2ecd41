"""Deterministic synthetic dermoscopy images and study metadata for tests and the demo.

The project has no real images and cannot download any; everything is drawn here.

- images:     ImageSpec -> pixels / JPEG bytes; laplacian_variance (focus) and blur.
- lesions:    per-category lesion painters (used by images).
- duplicates: planted near-duplicates, hard negatives, re-captures.
- cohort:     plan_cohort / generate_cohort (images + patients, metadata, truth CSVs);
              `python -m dermledger.synthetic.cohort OUT_DIR`.
- hashstats:  phash distance distributions of a generated cohort (dedup threshold);
              `python -m dermledger.synthetic.hashstats COHORT_DIR`.
- vocab:      ISIC labels, sites and devices the cohort draws from.

Submodules are not imported here, so `python -m` on them runs cleanly.
"""
