"""The annotation UI's views: browse a task's data, write prompts, bank health."""
