import pytest
import torch

from verifiers.video_frames import FramePick, frame_strip


@pytest.mark.parametrize("frames, every, expected", [
    ("all", 1, [0, 1, 2, 3, 4, 5, 6, 7, 8]), ("first", 1, [0]), ("middle", 1, [4]), ("last", 1, [8]),
    ("every k-th", 4, [0, 4, 8]), ("every k-th", 20, [0]),
])
def test_the_picked_frames(frames, every, expected):
    assert FramePick(frames, every).indices(9) == expected


def test_picking_keeps_each_videos_own_frames_in_order():
    videos = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5, 1, 1, 1).expand(2, 5, 2, 2, 3)
    picked = FramePick("every k-th", 2).pick(videos)
    assert picked[:, :, 0, 0, 0].tolist() == [[0, 2, 4], [5, 7, 9]]


def test_mean_and_min_make_one_score_per_video():
    scores = torch.tensor([[1.0, 3.0], [0.0, 4.0]])
    assert FramePick(aggregate="mean").combine(scores).tolist() == [2.0, 2.0]
    assert FramePick(aggregate="min").combine(scores).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("kwargs, message", [({"frames": "second"}, "frames"), ({"aggregate": "max"}, "mean or min"),
                                             ({"frames": "every k-th", "every": 0}, "at least 1")])
def test_bad_choices_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FramePick(**kwargs)


def test_images_are_not_videos():
    with pytest.raises(ValueError, match="videos"):
        FramePick().pick(torch.zeros(2, 4, 4, 3))


def test_a_strip_shows_up_to_four_evenly_spaced_frames_side_by_side():
    frames = torch.arange(9, dtype=torch.float32).reshape(9, 1, 1, 1).expand(9, 2, 3, 3)
    strip = frame_strip(frames)
    assert strip.shape == (2, 12, 3) and strip[0, ::3, 0].tolist() == [0, 3, 5, 8]
    assert frame_strip(frames[:2]).shape == (2, 6, 3)
