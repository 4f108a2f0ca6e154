"""What the team writes, read and checked: posts, newsletter issues, their front matter and
markdown. It imports nothing from the other subpackages.

Public names: posts.parse, posts.sources, posts.KINDS, issues.resolve, issues.load_issues,
markdown.render, record.PostRecord, record.of, frontmatter.split, scholarly.parse (a post's DOI,
outputs, licence and funder).
"""

__all__ = ["editorial", "frontmatter", "issues", "markdown", "posts", "record", "scholarly"]
