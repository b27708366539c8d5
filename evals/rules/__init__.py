"""Rule modules; importing this package registers every rule of eval-rules.md."""
from evals.rules import claims, clean, facts, language, provenance, punctuation, scope, structure  # noqa: F401
