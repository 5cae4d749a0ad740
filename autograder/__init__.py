"""The grading runner and its checkers (see the README's grading section)."""
