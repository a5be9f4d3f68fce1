"""VisPlay: Questioner-vs-Reasoner self-play on procedural images.

The pieces behind ``VisPlay-v0``, ``VisPlayQuestioner-v0`` and ``VisPlayReasoner-v0``
(:mod:`vista_envs.envs.visplay`):

- :mod:`~vista_envs.visplay.parsing`: reading a Questioner's ``<question>/<type>/<answer>/<program>`` output;
- :mod:`~vista_envs.visplay.voting`: majority vote over the Reasoner's answers, grouped by meaning;
- :mod:`~vista_envs.visplay.rewards`: the Questioner's and the Reasoner's reward formulas, the confidence band;
- :mod:`~vista_envs.visplay.diversity`: BLEU distance and incremental agglomerative clustering;
- :mod:`~vista_envs.visplay.query`: the grounded-mode query language over a scene description;
- :mod:`~vista_envs.visplay.game`: one round by the rules; :mod:`~vista_envs.visplay.players`: calling in-env players;
- :mod:`~vista_envs.visplay.scripted`: a scripted Questioner and a scripted noisy Reasoner;
- :mod:`~vista_envs.visplay.bank`: the question-bank record that ``VisPlayReasoner-v0`` poses and the trainer collects.

The PettingZoo AEC wrapper of ``VisPlay-v0`` is :mod:`vista_envs.envs.visplay.pettingzoo_env`, with the env it wraps.
"""

from vista_envs.visplay.diversity import ClusterWindow, DiversityTracker, bleu_distance, cluster_shares, sentence_bleu
from vista_envs.visplay.game import VisPlayRules
from vista_envs.visplay.parsing import QuestionerOutput, parse_questioner_output
from vista_envs.visplay.query import QueryError, QueryResult, run_query
from vista_envs.visplay.rewards import ConfidenceBand, questioner_reward, reasoner_reward, uncertainty
from vista_envs.visplay.scripted import ScriptedQuestioner, ScriptedReasoner
from vista_envs.visplay.voting import AnswerKey, Vote, answer_key, majority_vote

__all__ = [
    "AnswerKey",
    "ClusterWindow",
    "ConfidenceBand",
    "DiversityTracker",
    "QueryError",
    "QueryResult",
    "QuestionerOutput",
    "ScriptedQuestioner",
    "ScriptedReasoner",
    "VisPlayRules",
    "Vote",
    "answer_key",
    "bleu_distance",
    "cluster_shares",
    "majority_vote",
    "parse_questioner_output",
    "questioner_reward",
    "reasoner_reward",
    "run_query",
    "sentence_bleu",
    "uncertainty",
]
