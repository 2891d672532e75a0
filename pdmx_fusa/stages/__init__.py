"""The pipeline's stages, each a plain function of one score: a record in, a record out.

``parse -> timeline -> engrave -> visits -> align -> split -> plan -> render -> examples``:
parse loads the score with Verovio, timeline retimes its performance from the score's own
durations, tempo marks and jumps, engrave draws the pages, visits groups the performance by page,
align joins boxes and seconds, split picks the score's split, plan its renditions, render
synthesises them and examples makes the rows. A stage that finds a score unusable raises
:class:`Rejected`.
"""


class Rejected(ValueError):
    """The score cannot become examples; the message is the reason in the failures manifest."""
