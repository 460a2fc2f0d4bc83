"""How settings are spelt in tables, labels and `--select KEY=VALUE` matching, in one place."""

from __future__ import annotations

from reportbench.metrics.base import is_missing


def format_setting(column: str, value) -> str:
    """One spelling per setting whatever its source type (CSV turns 50 into 50.0)."""
    if is_missing(value):
        return "—"
    if isinstance(value, (bool,)) or column == "chat_template":
        return "yes" if value in (True, "True", "true", 1) else "no"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() and column != "temperature" else f"{float(value):g}"
    return str(value)


def number(value, digits: int = 3) -> str:
    return "—" if is_missing(value) else f"{value:.{digits}f}"


def p_value(value: float) -> str:
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def markdown_table(frame) -> str:
    """A DataFrame as a GitHub table, every cell as the text it already is."""
    return frame.to_markdown(index=False, disable_numparse=True)


def decoding_label(row) -> str:
    """'T=1 top_p=0.6 top_k=50 · 300 tok' (· 'no chat template'): every setting that changes the outcome."""
    from reportbench.decoding import Decoding

    label = Decoding.from_columns(row).label()
    return label if row["chat_template"] else f"{label} · no chat template"


def config_label(row) -> str:
    """'D · T=1 top_p=0.6 top_k=50 · 300 tok': the prompt and its decoding settings."""
    return f"{row['prompt']} · {decoding_label(row)}"
