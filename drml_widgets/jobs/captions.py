"""Caption policies for pretraining the shapes CLIPs: how the words a model learns from are written.

A policy turns an image's attribute row into a :class:`Caption`: the text, and what the text
*states*, as written (``None`` for a caption about nothing in the image). :func:`caption_matches`
reads the statements to decide which images of a batch each caption describes.

- ``exact`` (the bundled ``shapes`` CLIP): every caption states world values in the world's words.
- ``noisy`` (``shapes-noisy``): written the way people write. Attributes are often left out (size
  and position rarely stated), colours go by synonyms and near names ("teal", "sky blue",
  "navy"), a share of colour words is simply wrong (mostly a near colour), and some captions are
  about things the image does not show. Its rates are the module's ``NOISY_*`` constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..data.shapes import ATTRIBUTES
from ..prompts.generate import template_fields
from ..prompts.text import fix_articles, imagenet_templates

CAPTION_TEMPLATES = (
    "{size} {color} {shape}.",
    "{size}, {color}, {shape}.",
    "a {color} {shape}.",
    "a photo of a {color} {shape}.",
    "a {size} {color} {shape} in the {position}.",
    "{size} {color} {shape} in the {position}.",
    "a {color} {shape} in the {position}.",
    "a {size} {shape} in the {position}.",
    "a {shape} in the {position}.",
    # Captions, like people, name colour more often than shape. These make colour the more
    # salient feature of the embedding, as it is for real CLIPs on dSpritesV (paper 000, table 4).
    "something {color}.",
    "a {color} object.",
    "a {size} {color} thing in the {position}.",
    "something in the {position}.",
)
# Share of captions drawn from CLIP's 80 ImageNet templates, so prompt ensembles stay meaningful.
ENSEMBLE_SHARE = 0.3
# The phrases those templates wrap; one states position, so ensembles of it see position too.
ENSEMBLE_PHRASES = ("{size} {color} {shape}", "{color} {shape}", "{color} {shape} in the {position}")

# -- the noisy policy's rates: how often a caption states each attribute (colour and shape are
# mentioned by most people, size and position by few), how often a stated colour is wrong, and of
# those how often the wrong one is a near colour; captions about nothing in the image.
NOISY_MENTION = {"color": 0.8, "shape": 0.7, "size": 0.08, "position": 0.08}
NOISY_WRONG_COLOR = 0.08
NOISY_NEAR_WHEN_WRONG = 0.7
NOISY_OFF_TOPIC = 0.05
# The words people use for each world value; the first is the world's own. "sky blue" and "light
# blue" name cyan, "violet" names pink: the words of near colours share tokens and meanings.
COLOR_WORDS = {
    "red": ("red", "crimson", "scarlet", "bright red"),
    "pink": ("pink", "magenta", "rose", "violet", "hot pink"),
    "orange": ("orange", "amber", "tangerine", "dark orange"),
    "green": ("green", "grass green", "lime", "emerald"),
    "cyan": ("cyan", "teal", "turquoise", "sky blue", "light blue", "aqua"),
    "blue": ("blue", "navy", "royal blue", "dark blue", "cobalt"),
}
NEAR_COLOR = {"red": ("orange", "pink"), "pink": ("red",), "orange": ("red",), "green": ("cyan",),
              "cyan": ("blue", "green"), "blue": ("cyan",)}
SHAPE_WORDS = {"triangle": ("triangle", "triangle", "triangular shape"), "square": ("square", "square", "box")}
SIZE_WORDS = {"small": ("small", "tiny", "little"), "medium": ("medium", "medium-sized", "mid-sized"),
              "large": ("large", "big", "huge")}
POSITION_WORDS = {p: (f"in the {p}", f"in the {p} corner", f"at the {p.replace('upper', 'top').replace('lower', 'bottom')}")
                  for p in ATTRIBUTES["position"]}
NOISY_FRAMES = ("{}.", "a {}.", "a photo of a {}.", "look at this {}!", "i drew a {}.", "a picture of a {}.")
OFF_TOPIC = ("a cat asleep on a sofa.", "my holiday photos.", "the view from our kitchen window.",
             "a bowl of fruit on a table.", "happy birthday!", "a blurry photo of a dog.",
             "a red car parked outside.", "a blue sky over the sea.")


@dataclass(frozen=True)
class Caption:
    """A caption and the attribute values it states as written (``None``: it is about nothing the
    image shows). A wrong colour word states that word's colour, not the image's."""

    text: str
    stated: dict | None


def exact_caption(row: dict, rng: np.random.Generator) -> Caption:
    """The ``exact`` policy: a core or ImageNet template filled with the row's own values.

    Example:
        >>> row = {"color": "orange", "shape": "square", "size": "small", "position": "upper left"}
        >>> c = exact_caption(row, np.random.default_rng(0))
        >>> "orange" in c.text, all(row[k] == v for k, v in c.stated.items())
        (True, True)
    """
    if rng.random() < ENSEMBLE_SHARE:
        templates = imagenet_templates()
        phrase = ENSEMBLE_PHRASES[rng.integers(len(ENSEMBLE_PHRASES))]
        text = templates[rng.integers(len(templates))].format(phrase.format(**row))
    else:
        phrase = CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))]
        text = phrase.format(**row)
    return Caption(fix_articles(text), {f: row[f] for f in template_fields(phrase)})


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    # The world's own word half the time, else any of its synonyms.
    return words[0] if rng.random() < 0.5 else words[int(rng.integers(len(words)))]


def noisy_caption(row: dict, rng: np.random.Generator) -> Caption:
    """The ``noisy`` policy: what a person might write (see the module's docstring for its rates).

    Example:
        >>> row = {"color": "cyan", "shape": "square", "size": "small", "position": "upper left"}
        >>> [noisy_caption(row, np.random.default_rng(s)).text for s in (1, 4)]
        ['a square.', 'a sky blue thing.']
    """
    if rng.random() < NOISY_OFF_TOPIC:
        return Caption(OFF_TOPIC[int(rng.integers(len(OFF_TOPIC)))], None)
    said = [t for t in ("color", "shape", "size", "position") if rng.random() < NOISY_MENTION[t]]
    said = said or ["color"]  # a caption of an image of one shape says something about it
    stated = {t: row[t] for t in said}
    if "color" in said and rng.random() < NOISY_WRONG_COLOR:
        near = NEAR_COLOR[row["color"]]
        others = near if rng.random() < NOISY_NEAR_WHEN_WRONG else [c for c in ATTRIBUTES["color"] if c != row["color"]]
        stated["color"] = others[int(rng.integers(len(others)))]
    words = [_pick(rng, table[stated[t]]) for t, table in (("size", SIZE_WORDS), ("color", COLOR_WORDS)) if t in said]
    words.append(_pick(rng, SHAPE_WORDS[row["shape"]]) if "shape" in said else ("thing", "shape", "object")[int(rng.integers(3))])
    if "position" in said:
        words.append(_pick(rng, POSITION_WORDS[row["position"]]))
    phrase = " ".join(words)
    if rng.random() < ENSEMBLE_SHARE:
        templates = imagenet_templates()
        text = templates[int(rng.integers(len(templates)))].format(phrase)
    else:
        text = NOISY_FRAMES[int(rng.integers(len(NOISY_FRAMES)))].format(phrase)
    return Caption(fix_articles(text), stated)


POLICIES: dict[str, Callable[[dict, np.random.Generator], Caption]] = {"exact": exact_caption, "noisy": noisy_caption}


def caption_matches(rows: list[dict], stated: list[dict | None]) -> np.ndarray:
    """Which images each caption describes: ``[i, j]`` is true when ``j == i`` (the image the
    caption was written for) or image ``j`` has every value caption ``i`` states (``stated[i]``).

    Captions are written from attributes, so "a red square." describes every red square in the
    batch, not only the one it was drawn for. Contrastive targets that count the others as wrong
    ask the model to tell apart what the caption cannot, and that noise drowns the attributes it
    has yet to learn (position, which fewer captions state).

    A caption is read as written: "a blue square" written (wrongly) for a cyan square describes
    the blue squares, and stays paired with its own image, as a wrong caption is in real data:
    that pairing is the noise. A caption about nothing in the image describes its own image only.
    For ``exact`` captions the own image always has the stated values, so the rule is theirs.

    Example:
        >>> rows = [{"color": "red", "shape": "square"}, {"color": "red", "shape": "triangle"}]
        >>> caption_matches(rows, [{"color": "red"}, {"color": "red", "shape": "triangle"}]).tolist()
        [[True, True], [False, True]]
        >>> caption_matches(rows, [{"color": "blue"}, None]).tolist()
        [[True, False], [False, True]]
    """
    return np.array([[i == j or (said is not None and all(other[f] == v for f, v in said.items()))
                      for j, other in enumerate(rows)] for i, said in enumerate(stated)], dtype=bool)
