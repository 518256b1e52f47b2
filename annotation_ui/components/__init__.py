"""Reusable pieces of the annotation UI: task picker, example pager, editor, preview."""
