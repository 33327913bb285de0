"""The evaluation classifier: it learns an easy task, round-trips through its folder, and scores CAS."""

import hashlib
import json

import pytest
import torch

from vaelab.errors import RunError
from vaelab.evaluation import (
    SmallCNN,
    accuracy,
    classification_accuracy_score,
    extract_features,
    load_classifier,
    save_classifier,
    train_classifier,
)

SETTINGS = dict(epochs=5, batch_size=64, lr=3e-3, width=8, feature_dim=32)  # small: seconds on a busy CPU


def prototypes(n, seed, classes=4, flip=0.1):
    """uint8 [n, 1, 16, 16] noisy copies of `classes` fixed random binary patterns, and their labels."""
    protos = torch.rand(classes, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.5
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    noise = torch.rand(n, 1, 16, 16, generator=g) < flip
    return (protos[labels] ^ noise).to(torch.uint8) * 255, labels


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny convolutions gain nothing from a second thread, and on a busy machine OpenMP's
    # threads wait on each other: measured 10 s instead of 0.5 s for one training here.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(one_thread):
    train = prototypes(600, seed=1)
    test = prototypes(200, seed=2)
    model, history = train_classifier(*train, val=test, progress=False, **SETTINGS)
    return model, history, test


def test_the_classifier_learns_an_easy_task(trained):
    model, history, test = trained
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]
    assert history[-1]["val/accuracy"] > 0.95 and history[-1]["train/loss"] < history[0]["train/loss"]
    assert accuracy(model, *test) == history[-1]["val/accuracy"]
    feats = extract_features(model, test[0], batch_size=64)
    assert feats.shape == (200, 32) and (feats >= 0).all()


def test_save_and_load_give_the_same_classifier_and_the_hash_names_the_file(trained, tmp_path):
    model, _, test = trained
    meta = save_classifier(model, tmp_path / "clf", {"dataset": "prototypes", "val_accuracy": 1.0})
    loaded, read = load_classifier(tmp_path / "clf")
    assert read == meta == json.loads((tmp_path / "clf" / "classifier.json").read_text())
    assert read["sha256"] == hashlib.sha256((tmp_path / "clf" / "classifier.safetensors").read_bytes()).hexdigest()
    assert read["id"] == read["sha256"][:12] and read["dataset"] == "prototypes"
    x = test[0][:10].float() / 255
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x)) and torch.equal(loaded.features(x), model.features(x))
    other = SmallCNN((1, 16, 16), 4, width=8, feature_dim=32)  # a different classifier's weights
    save_classifier(other, tmp_path / "other")
    (tmp_path / "other" / "classifier.safetensors").replace(tmp_path / "clf" / "classifier.safetensors")
    with pytest.raises(RunError, match="sha256"):
        load_classifier(tmp_path / "clf")
    with pytest.raises(RunError):
        load_classifier(tmp_path / "nothing")


def test_cas_of_real_images_matches_the_real_baseline_and_shuffled_labels_fall_to_chance():
    train, test = prototypes(500, seed=3), prototypes(200, seed=4)
    same = classification_accuracy_score(*train, *test, train_real=train, **SETTINGS)
    assert same["cas"] == same["real"] > 0.95 and same["n_real"] == same["n_generated"] == 500
    shuffled = train[1][torch.randperm(500, generator=torch.Generator().manual_seed(0))]
    wrong = classification_accuracy_score(train[0], shuffled, *test, **SETTINGS)
    assert wrong["cas"] < 0.45 and wrong["real"] is None  # chance: 0.25
