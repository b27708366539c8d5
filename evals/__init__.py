"""Draft checker: the rules of eval-rules.md as data plus small functions."""
