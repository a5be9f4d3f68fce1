"""Answer extraction (response formats), normalisation and verification."""

from vista_envs.answers.extract import RESPONSE_FORMATS, ParsedResponse, ResponseFormat, get_response_format
from vista_envs.answers.verify import BOX_SUCCESS_IOU, box_iou, format_answer, is_correct, score_answer

__all__ = [
    "BOX_SUCCESS_IOU",
    "RESPONSE_FORMATS",
    "ParsedResponse",
    "ResponseFormat",
    "box_iou",
    "format_answer",
    "get_response_format",
    "is_correct",
    "score_answer",
]
