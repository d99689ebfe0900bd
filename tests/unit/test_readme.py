"""The README stays in step with the code it describes."""

from pathlib import Path

from service.settings import Settings
from state.lifecycle import mermaid_diagram

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_readme_shows_the_diagram_generated_from_the_table() -> None:
    assert f"```mermaid\n{mermaid_diagram()}```" in README


def test_readme_documents_every_setting() -> None:
    missing = [
        f"REFERRALS_{name.upper()}"
        for name in Settings.model_fields
        if f"`REFERRALS_{name.upper()}`" not in README
    ]
    assert missing == []


def test_readme_documents_every_dead_letter_code() -> None:
    from service.dead_letters import ERROR_CODES

    assert [code for code in ERROR_CODES if f"| `{code}` |" not in README] == []
