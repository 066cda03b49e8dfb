"""What the VLM judge asks: the yes/no question (VQAScore) and the grading rubric (the paper's LLM grader).

Both are user turns holding the image and one question, rendered by the model folder's own chat template
with the generation prompt, so the next token is the first token of the model's answer.

The rubric follows the grader prompt of Ma et al. (2025, arXiv 2501.09732), which asks an LLM for a grade
per aspect (accuracy to prompt, creativity and originality, visual quality and realism, consistency and
cohesion, emotional or thematic resonance). Here each aspect is its own question, answered with one digit
from 0 to 9: a digit is one token in Qwen's tokenizers, so the whole distribution over grades sits in one
next-token distribution (a 0-10 scale would need two tokens for "10").
"""

from __future__ import annotations

from .errors import VerifierConfigError

TEXT_PLACEHOLDER = "{verifier_text}"
DEFAULT_QUESTION_TEMPLATE = f"Does this image show: {TEXT_PLACEHOLDER}? Answer Yes or No."
YES = "Yes"

QUESTION, RUBRIC = "question", "rubric"
MODES = (QUESTION, RUBRIC)

RUBRIC_ASPECTS: dict[str, str] = {
    "accuracy to prompt": "how faithfully the image shows everything the prompt asks for: its subjects, their "
    "attributes and number, how they relate, and the style asked for",
    "originality": "how creative and original the image's take on the prompt is, beyond the most obvious rendering",
    "visual quality": "its technical and visual quality: sharpness, detail, lighting, colour and realism (or "
    "fidelity to the style asked for), free of artefacts, noise and distortions",
    "internal consistency": "whether the image holds together: anatomy, proportions, perspective, shadows and "
    "objects that fit with each other, with nothing contradictory, duplicated or malformed",
    "emotional resonance": "how well the image conveys the mood, emotion or theme the prompt calls for, and how "
    "much it engages the viewer",
}
"""The paper's five aspects, each with what the grader is told to judge."""
OVERALL = "overall"
ASPECT_CHOICES = (OVERALL, *RUBRIC_ASPECTS)
GRADES = tuple(range(10))
"""The grade digits "0" .. "9"; an aspect's score is their probability-weighted mean."""


def check_question_template(template: str) -> None:
    if TEXT_PLACEHOLDER not in template:
        raise VerifierConfigError(
            f"question_template must contain {TEXT_PLACEHOLDER} where the prompt goes (e.g. "
            f"'{DEFAULT_QUESTION_TEMPLATE}'); without it every image would be asked the same question about nothing"
        )


def question_text(template: str, verifier_text: str) -> str:
    """The question with the prompt in it (a plain replacement, so braces in either text stay as they are)."""
    return template.replace(TEXT_PLACEHOLDER, verifier_text.strip())


def rubric_question(aspect: str, verifier_text: str) -> str:
    return (
        f'This image was generated for the prompt: "{verifier_text.strip()}".\n'
        f"Grade its {aspect}: {RUBRIC_ASPECTS[aspect]}.\n"
        f"Judge this aspect alone, from 0 (fails completely) to 9 (flawless). Answer with a single digit."
    )


def aspects_for(aspect: str) -> tuple[str, ...]:
    """The aspects a rubric score averages: one, or all five for ``overall``."""
    if aspect == OVERALL:
        return tuple(RUBRIC_ASPECTS)
    if aspect not in RUBRIC_ASPECTS:
        raise VerifierConfigError(f"aspect '{aspect}' is not one of {', '.join(ASPECT_CHOICES)}")
    return (aspect,)
