"""Frame-describer backends of the ``describe_frames`` stage, one file each: ``describe(frames,
cfg, ctxs)`` gets the batch's frames as (item position, frame position, rgb) and returns per
frame ``(text, labels)`` or the exception that failed it. Each is registered by one line in
``pipelines/stages/describe_frames.py`` (``FRAME_DESCRIBERS``)."""
