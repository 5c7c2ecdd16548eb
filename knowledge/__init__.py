"""The knowledge base that admins edit: its format, loader, validator and matcher."""

from knowledge.loader import KnowledgeBaseError, load_knowledge_base
from knowledge.matcher import Candidate, Decision, Match, Matcher, MatchSettings
from knowledge.problems import Problem, problems_text
from knowledge.schema import ACTIONS, Button, Entry, KnowledgeBase

__all__ = [
    "ACTIONS",
    "Button",
    "Candidate",
    "Decision",
    "Entry",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Match",
    "MatchSettings",
    "Matcher",
    "Problem",
    "load_knowledge_base",
    "problems_text",
]
