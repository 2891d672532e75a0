"""The performed timeline as the MusicXML itself writes it, in pure functions.

``musicxml.read_musicxml`` reads every measure's real length (from ``<duration>``, ``<backup>``
and ``<forward>``, so tuplets with imperfect markup, pickups and overfull measures get the length
they sound), its tempo marks at their exact positions, fermatas, repeat barlines, voltas and
jump marks (segno, coda, Fine, D.C., D.S., To Coda). ``unfold.unfold`` turns those into the
performed order of measures. Neither needs Verovio.
"""

from .musicxml import XmlMeasure, read_musicxml
from .unfold import unfold

__all__ = ["XmlMeasure", "read_musicxml", "unfold"]
