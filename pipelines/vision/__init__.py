"""Measurements on frames and videos (numpy/OpenCV, no learned models): light, colour,
shot boundaries, motion. These facts are the evidence the hallucination audit checks claims
against, so every threshold is a named constant documented where it is defined."""
