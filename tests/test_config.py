import pytest

from vipriors.engine import config as cfg


def parse(argv):
    return cfg.cli_overrides(cfg.build_parser("test").parse_args(argv))


def test_builtin_profile_applies_only_without_data():
    builtin = cfg.resolve(parse([]))
    assert builtin.data.root is None and builtin.model.arch == "resnest14d" and builtin.data.image_size == 64
    real = cfg.resolve(parse(["--data", "/imagenet"]))
    assert real.model.arch == "resnest200e" and real.data.image_size == 224 and real.optim.optimizer == "sgd"


def test_precedence_defaults_profile_recipe_cli():
    recipe = {"optim": {"epochs": 7, "lr": 0.5}, "augment": {"scale": [0.2, 1.0]}}
    config = cfg.resolve(parse(["--epochs", "9", "--ratio", "0.5,2"]), recipe=recipe)
    assert config.optim.epochs == 9 and config.optim.lr == 0.5
    assert config.augment.scale == (0.2, 1.0) and config.augment.ratio == (0.5, 2.0)
    assert config.data.image_size == 64  # from the built-in profile


def test_resume_uses_the_saved_config(tmp_path):
    original = cfg.resolve(parse(["--arch", "resnet18", "--lr", "0.3"]))
    path = tmp_path / "config.yaml"
    cfg.save_yaml(original, str(path))
    resumed = cfg.resolve(parse(["--epochs", "20"]), saved=cfg.load_yaml(str(path)))
    assert resumed.model.arch == "resnet18" and resumed.optim.lr == 0.3 and resumed.optim.epochs == 20
    assert resumed.data == original.data


def test_a_run_saved_before_a_setting_existed_resumes_as_it_ran():
    saved = cfg.to_dict(cfg.resolve(parse([])))
    del saved["data"]["pipeline_batch"], saved["data"]["pipelines"], saved["augment"]["policy_interp"]
    del saved["augment"]["policy_ops"], saved["augment"]["resize"]
    resumed = cfg.resolve(parse([]), saved=saved)
    assert resumed.data.pipeline_batch == 0 and resumed.data.pipelines == 1 and resumed.augment.policy_interp == "linear"
    assert resumed.augment.policy_ops == "dali" and resumed.augment.resize == "dali"
    assert cfg.resolve(parse(["--pipeline-batch", "128"]), saved=saved).data.pipeline_batch == 128
    fresh = cfg.resolve(parse([]))
    assert fresh.data.pipeline_batch == 256 and fresh.data.pipelines == 2 and fresh.augment.policy_interp == "nearest"
    assert cfg.resolve(parse([]), saved=cfg.to_dict(fresh)) == fresh


def test_bad_values_name_the_setting():
    with pytest.raises(ValueError, match="optim.epochs: cannot read 'many' as int"):
        cfg.resolve(parse(["--epochs", "many"]))
    with pytest.raises(ValueError, match="augment.scale: expected 2 comma-separated values"):
        cfg.resolve(parse(["--scale", "0.1"]))
    with pytest.raises(ValueError, match="unknown setting 'epoch'"):
        cfg.resolve({}, recipe={"optim": {"epoch": 3}})
    assert cfg.resolve(parse(["--lr", "none"])).optim.lr is None


def test_every_leaf_has_a_unique_flag():
    flags = [f.metadata["flag"] for _, f, _ in cfg._leaves(cfg.TrainConfig)]
    assert len(flags) == len(set(flags))


def test_switches_and_validated_sections():
    config = cfg.resolve(parse(["--skip-bad-files", "--check-data", "false", "--auto-augment", "randaugment"]))
    assert config.data.skip_bad_files is True and config.data.check is False
    assert config.augment.policy == "randaugment"
    with pytest.raises(ValueError, match="--auto-augment must be one of"):
        cfg.resolve(parse(["--auto-augment", "fancy"]))
    with pytest.raises(ValueError, match="--scale must satisfy"):
        cfg.resolve(parse(["--scale", "0.5,0.2"]))


def test_every_recipe_resolves():
    import glob
    import os

    recipes = glob.glob(os.path.join(os.path.dirname(__file__), "..", "recipes", "**", "*.yaml"), recursive=True)
    assert len(recipes) >= 7
    for path in recipes:
        values = cfg.load_yaml(path)
        if "members" in values:  # a manifest of cifar10_recipe.py: each member's config and flags
            for member in values["members"]:
                recipe = cfg.load_yaml(os.path.join(os.path.dirname(path), member["config"]))
                for extra in ([], member.get("ls_args", [])):
                    config = cfg.resolve(parse([str(a) for a in member.get("args", []) + extra]), recipe=recipe)
                    assert config.model.arch and config.runtime.compile in ("auto", "on", "off")
            continue
        config = cfg.resolve({}, recipe=values)
        assert config.optim.epochs > 0 and config.model.arch
        assert config.runtime.compile in ("auto", "on", "off") and config.runtime.amp in ("auto", "bf16", "fp16", "off")


def test_yaml_on_off_reads_as_the_word():
    config = cfg.resolve({}, recipe={"runtime": {"compile": False, "amp": False}})
    assert config.runtime.compile == "off" and config.runtime.amp == "off"
