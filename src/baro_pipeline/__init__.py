"""baro-pipeline: respondent-level survey exports to audited, design-based published figures."""

__version__ = "0.1.0"
