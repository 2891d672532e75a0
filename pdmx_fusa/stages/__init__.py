"""The pipeline's stages, each a plain function of one score: a record in, a record out.

``parse -> engrave -> align -> plan -> render -> examples``, with ``split`` deciding where a
score's examples go. A stage that finds a score unusable raises :class:`Rejected`.
"""


class Rejected(ValueError):
    """The score cannot become examples; the message is the reason in the failures manifest."""
