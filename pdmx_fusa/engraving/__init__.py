"""Pictures: Verovio's SVG pages drawn by Skia with Verovio's own fonts."""
