"""VisPlay rewards, majority vote and diversity clustering, against hand-computed cases."""

import math
import random

import numpy as np
import pytest

from vista_envs.visplay.diversity import (
    ClusterWindow,
    DiversityTracker,
    bleu_distance,
    cluster_labels,
    cluster_shares,
    sentence_bleu,
)
from vista_envs.visplay.rewards import ConfidenceBand, questioner_reward, questioner_terms, reasoner_reward, uncertainty
from vista_envs.visplay.voting import AnswerKey, answer_key, majority_vote

RED_CIRCLES = "How many red circles are there?"
LARGE_SQUARE = "What color is the large square?"
BLUE_STAR = "Is the blue star above the green hexagon?"


# --- Questioner reward ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("confidence", "paper", "min_form"),
    [(0.5, 1.0, 0.5), (0.9, 0.2, 0.1), (1.0, 0.0, 0.0), (0.1, 0.2, 0.1), (0.0, 0.0, 0.0)],
)
def test_uncertainty_forms_match_hand_computed_values(confidence, paper, min_form):
    assert uncertainty(confidence, "paper") == pytest.approx(paper)
    assert uncertainty(confidence, "min") == pytest.approx(min_form)


def test_questioner_reward_is_gated_by_validity_and_minus_the_weighted_cluster_share():
    assert questioner_reward(True, 0.5, 0.0) == pytest.approx(1.0)
    assert questioner_reward(True, 0.7, 0.25) == pytest.approx(0.6 - 0.25)
    assert questioner_reward(True, 0.5, 0.5, form="min", diversity_weight=0.5) == pytest.approx(0.5 - 0.25)
    assert questioner_reward(False, 0.5, 0.75) == 0.0


def test_a_valid_question_never_earns_less_than_an_invalid_one():
    assert questioner_reward(True, 0.9, 0.25) == 0.0  # 0.2 - 0.25 clipped
    assert questioner_reward(True, 1.0, 0.1, diversity_weight=2.0) == 0.0
    assert questioner_reward(True, 1.0, 1.0) >= questioner_reward(False, 0.5, 0.0)


def test_questioner_terms_name_uncertainty_and_negative_diversity():
    assert questioner_terms(True, 0.9, 0.25) == pytest.approx({"uncertainty": 0.2, "diversity": -0.25})
    assert questioner_terms(False, 0.9, 0.25) == {"uncertainty": 0.0, "diversity": 0.0}


@pytest.mark.parametrize("confidence", [-0.1, 1.1, math.nan])
def test_a_confidence_outside_zero_one_is_rejected(confidence):
    with pytest.raises(ValueError, match="confidence"):
        uncertainty(confidence)


def test_an_unknown_reward_form_is_rejected():
    with pytest.raises(ValueError, match="paper"):
        uncertainty(0.5, "squared")


# --- Reasoner reward and the confidence band ------------------------------------------------------


@pytest.mark.parametrize(
    ("agrees", "well_formed", "reward"),
    [(True, True, 1.0), (True, False, 0.9), (False, True, 0.1), (False, False, 0.0)],
)
def test_reasoner_reward_is_nine_tenths_agreement_plus_one_tenth_format(agrees, well_formed, reward):
    assert reasoner_reward(agrees, well_formed) == pytest.approx(reward)


def test_reasoner_reward_weights_are_configurable():
    assert reasoner_reward(True, True, agreement_weight=1.0, format_weight=0.0) == 1.0


@pytest.mark.parametrize(
    ("confidence", "admitted"), [(0.2, False), (0.25, True), (0.5, True), (0.75, True), (0.8, False), (1.0, False)]
)
def test_default_band_admits_confidences_from_a_quarter_to_three_quarters_inclusive(confidence, admitted):
    assert ConfidenceBand().admits(confidence) is admitted


def test_a_custom_band_moves_the_edges_and_a_reversed_band_is_rejected():
    band = ConfidenceBand(0.4, 0.6)
    assert band.admits(0.5) and not band.admits(0.3) and not band.admits(0.7)
    with pytest.raises(ValueError, match="band"):
        ConfidenceBand(0.8, 0.2)


# --- Majority vote ---------------------------------------------------------------------------------


def test_number_spellings_form_one_group_and_confidence_is_the_share_of_all_samples():
    vote = majority_vote(["3", "three", "3.0", "There are 3 circles.", "4", None, "", "4"])
    assert vote.label == "3"
    assert vote.confidence == pytest.approx(4 / 8)
    assert vote.counts == {"3": 4, "4": 2}


def test_yes_no_synonyms_and_case_form_one_group():
    vote = majority_vote(["Yes", "yes.", "true", "No", "nope"], answer_type="yes_no")
    assert (vote.label, vote.confidence) == ("yes", pytest.approx(0.6))


def test_text_answers_group_across_case_articles_and_plural():
    vote = majority_vote(["The Red", "red", "RED.", "blue"])
    assert vote.counts == {"red": 3, "blue": 1}


def test_a_tie_goes_to_the_answer_given_first():
    assert majority_vote(["4", "3", "3", "4"]).label == "4"
    assert majority_vote(["3", "4", "4", "3"]).label == "3"


def test_no_readable_answer_gives_no_label_and_zero_confidence():
    vote = majority_vote([None, "", "   "])
    assert vote.label is None and vote.key is None and vote.confidence == 0.0


def test_the_answer_type_decides_how_an_answer_is_read():
    assert answer_key("No, there are 3.") == AnswerKey("number", "3")
    assert answer_key("No, there are 3.", "yes_no") == AnswerKey("yes_no", "no")
    assert answer_key("three", "text") == AnswerKey("text", "three")
    assert answer_key("maybe", "number") == AnswerKey("text", "maybe")


# --- BLEU ------------------------------------------------------------------------------------------


def test_sentence_bleu_matches_hand_computed_values():
    assert sentence_bleu("how many red circles".split(), "how many red circles".split()) == pytest.approx(1.0)
    assert sentence_bleu("red circle".split(), "blue square".split()) == 0.0
    # p1 = 2/3, p2 = (1+1)/(2+1), p3 = (0+1)/(1+1), p4 = (0+1)/(0+1), equal lengths: no brevity penalty.
    assert sentence_bleu("the red circle".split(), "the red square".split()) == pytest.approx(
        (2 / 3 * 2 / 3 * 1 / 2) ** 0.25
    )
    # Every precision is 1 but the hypothesis is shorter: brevity penalty exp(1 - 3/2).
    assert sentence_bleu("red circle".split(), "the red circle".split()) == pytest.approx(math.exp(-0.5))


def test_bleu_distance_is_symmetric_and_ignores_case_and_punctuation():
    assert bleu_distance(RED_CIRCLES, "how many RED circles are there") == 0.0
    assert bleu_distance(RED_CIRCLES, LARGE_SQUARE) == pytest.approx(bleu_distance(LARGE_SQUARE, RED_CIRCLES))
    assert bleu_distance("red circle", "blue square") == 1.0


def test_templates_with_different_slots_are_farther_apart_than_the_threshold():
    assert bleu_distance(RED_CIRCLES, "How many blue squares are there?") > 0.5
    assert bleu_distance(RED_CIRCLES, "How many red circles are there now?") < 0.5


# --- Clustering ------------------------------------------------------------------------------------


def test_batch_cluster_shares_are_cluster_size_over_batch_size():
    batch = [RED_CIRCLES, RED_CIRCLES.upper(), LARGE_SQUARE, "how many red circles are there"]
    assert cluster_labels(batch) == [0, 0, 1, 0]
    assert cluster_shares(batch) == [0.75, 0.75, 0.25, 0.75]


def test_window_share_is_the_cluster_size_over_the_window_size():
    window = ClusterWindow(size=4)
    assert [window.add(q).share for q in (RED_CIRCLES, LARGE_SQUARE, RED_CIRCLES, RED_CIRCLES)] == [
        0.25,
        0.25,
        0.5,
        0.75,
    ]


def test_a_question_that_leaves_the_window_leaves_its_cluster():
    window = ClusterWindow(size=2)
    assert window.add(RED_CIRCLES).size == 1
    assert window.add(RED_CIRCLES).size == 2
    assert window.add(BLUE_STAR).size == 1  # evicts the first red-circles question
    assert window.add(BLUE_STAR).size == 2  # evicts the second
    assert window.add(RED_CIRCLES).size == 1
    assert window.clusters() == [[BLUE_STAR], [RED_CIRCLES]]


def _random_questions(count, seed):
    rng = random.Random(seed)
    words = "how many red blue circles squares are there is the left of what color shape large".split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(1, 10))) for _ in range(count)]


def test_window_distances_equal_the_pure_python_bleu_distance():
    window = ClusterWindow(size=40)
    questions = _random_questions(40, seed=1)
    for question in questions:
        window.add(question)
    slots = list(window._order)
    for i in range(0, 40, 7):
        for j in range(0, 40, 5):
            expected = 0.0 if i == j else bleu_distance(questions[i], questions[j])
            assert window._distance[slots[i], slots[j]] == pytest.approx(expected, abs=1e-6)


def test_incremental_clustering_keeps_every_pair_of_clusters_at_least_the_threshold_apart():
    window = ClusterWindow(size=30)
    for step, question in enumerate(_random_questions(200, seed=2)):
        window.add(question)
        if step % 20:
            continue
        slots = np.array(window._order)
        labels = np.array(window.labels())
        groups = [slots[labels == label] for label in sorted(set(labels))]
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                assert window._distance[np.ix_(groups[a], groups[b])].mean(dtype=np.float64) >= 0.5
        assert sum(len(group) for group in groups) == len(window) == min(step + 1, 30)


def test_image_scope_keeps_one_window_per_image_and_batch_scope_one_for_all():
    per_image = DiversityTracker(window=4, scope="image")
    assert per_image.add(RED_CIRCLES, "image-1").size == 1
    assert per_image.add(RED_CIRCLES, "image-2").size == 1
    assert per_image.add(RED_CIRCLES, "image-1").size == 2
    batch = DiversityTracker(window=4, scope="batch")
    assert [batch.add(RED_CIRCLES, image).size for image in ("image-1", "image-2", "image-1")] == [1, 2, 3]


def test_clustering_arguments_are_checked():
    with pytest.raises(ValueError, match="scope"):
        DiversityTracker(scope="epoch")
    with pytest.raises(ValueError, match="threshold"):
        ClusterWindow(threshold=1.5)
    with pytest.raises(ValueError, match="window size"):
        ClusterWindow(size=0)
