"""The grading prompts of model-graded promptfoo assertions, written for migrate.

Each asks for the reply format that promptfoo 0.121 reads from its own grader, so that the
replies are read by the same rules (see graders.py).
"""

from __future__ import annotations

RUBRIC_SYSTEM = (
    "You grade a model's output against a rubric written by the user. The output passes "
    "when what the rubric states is true of it. Reply with one JSON object and nothing "
    'else: {"reason": "<why, in a sentence or two>", "pass": true or false, '
    '"score": <a number from 0.0 to 1.0>}.'
)
FACTUALITY_SYSTEM = (
    "You compare a submitted answer with an expert answer for factual agreement only: "
    "ignore style, grammar and punctuation. Choose one category:\n"
    "(A) the submission is a subset of the expert answer and fully consistent with it;\n"
    "(B) the submission is a superset of the expert answer and fully consistent with it;\n"
    "(C) the submission contains all the same details as the expert answer;\n"
    "(D) the submission and the expert answer disagree;\n"
    "(E) they differ, but not in any way that matters for factuality.\n"
    'Reply with JSON only: {"category": "<A, B, C, D or E>", "reason": "<why>"}.'
)
CLOSEDQA_SYSTEM = (
    "You decide whether a submission meets a criterion for a task. Reason step by step "
    "about the criterion first, without stating the conclusion up front. Then write the "
    "single letter Y (it meets the criterion) or N (it does not) on a line of its own, and "
    "repeat that letter alone on the last line."
)
GEVAL_STEPS = (
    "Write three or four short steps for checking whether any text meets the criteria "
    "below.\n\n**EVALUATION CRITERIA**\n{criteria}\n\n**OUTPUT FORMAT**\nReply with "
    'minified JSON only, in the form {{"steps":["<step>","<step>","<step>"]}}.'
)
GEVAL_EVALUATE = (
    "Rate the Reply to the Prompt on one metric, following the steps.\n\n"
    "**Evaluation Criteria**\n{criteria}\n\n**Evaluation Steps**\n- {steps}\n\n"
    "**Prompt**\n{input}\n\n**Reply**\n{output}\n\n**OUTPUT FORMAT**\n"
    'Reply with minified JSON only: an integer "score" from 0 (the criteria are not met '
    'at all) to 10 (fully and clearly met), and a short "reason" that does not quote '
    'the score: {{"score":0,"reason":"..."}}.'
)
RECALL = (
    "For each sentence of the answer below, decide whether the context supports it. Write "
    "one numbered line per sentence, ending in [Attributed] or [Not Attributed].\n\n"
    "context:\n{context}\n\nanswer:\n{answer}\n\nclassification:\n"
)
RELEVANCE = (
    "Copy, word for word and one per line, the sentences of the context that are needed "
    "to answer the query. If none are, or the context cannot answer it, reply exactly "
    '"Insufficient Information".\n\nquery: {query}\ncontext: {context}\n'
    "candidate sentences:\n"
)
STATEMENTS = (
    "Break the answer to the question into short, self-contained statements, one per "
    "line, and nothing else.\n\nquestion: {question}\nanswer: {answer}\nstatements:\n"
)
NLI = (
    "Decide for each statement whether the context supports it. Explain each briefly, "
    "then end with the line 'Final verdict for each statement in order:' followed by Yes. "
    "or No. for each statement, in order.\n\ncontext:\n{context}\n\nstatements:\n"
    "{statements}\n\nAnswer:\n"
)
QUESTION = "Write the one question that this answer answers.\n\nAnswer: {answer}\nQuestion:"
CONTEXT_MISSING = (
    "Context is required for context-based assertions: give the test a 'context' var "
    "(text or a list of texts)"
)
