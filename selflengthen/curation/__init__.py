"""Curation: the rules of a curator's decision and the one service every caller records decisions through.

- `rules`: reject reasons, what the gates suggest, the effective verdict (each curator's latest decision; the
  newest standing one wins), who still needs to decide a sample, and the text that counts (an edit wins).
- `decisions`: the service (the reasons check, the conflict rule, the conflict error) used by the dashboard,
  the CLI's `review`, `loop --auto-accept`, export and training data.
- `filters`: which samples of an iteration a curator sees. `agreement`: Cohen's and Fleiss' kappa.
- `display`: the gates table, word diff, headline and progress line a curator reads, as plain text.

May import: `selflengthen.method`, `selflengthen.errors`, `selflengthen.shapes`.
"""
