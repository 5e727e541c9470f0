"""metatl.split: the cold-start split of one interaction log into the reference's two files."""
import datetime

import pytest

import metatl

LOG = ("userId,movieId,rating,timestamp\n"
       "1,10,5,1\n1,11,4,2\n1,12,3,3\n"
       "2,11,5,5\n2,13,1,4\n"
       "3,10,2,50\n"
       "4,10,5,100\n4,14,5,101\n4,11,5,102\n4,12,5,103\n"
       "5,10,1,200\n5,11,1,201\n5,12,1,202\n")


@pytest.fixture
def log(tmp_path):
    p = tmp_path / "ratings.csv"
    p.write_text(LOG)
    return p


def test_split_by_time_writes_the_reference_files(log, tmp_path):
    train, test = tmp_path / "x_train.csv", tmp_path / "x_test_new_user.csv"
    info = metatl.split(log, train, test, cut_time=100)
    assert info == {"cut_time": 100.0, "train_users": 2, "train_interactions": 5, "new_users": 1, "new_interactions": 4,
                    "dropped_train_users": 1, "dropped_new_users": 1, "new_items_not_in_training": 1}
    assert train.read_text() == "1\t10\t1\n1\t11\t2\n1\t12\t3\n2\t13\t4\n2\t11\t5\n"
    assert test.read_text() == "4\t10\t100\n4\t14\t101\n4\t11\t102\n4\t12\t103\n"
    data = metatl.Dataset.from_files(train, test)
    assert data.info["train_users"] == 2 and data.info["valid_users"] + data.info["test_users"] == 1


def test_split_by_fraction_columns_and_dates(log, tmp_path):
    train, test = str(tmp_path / "a"), str(tmp_path / "b")
    info = metatl.split(log, train, test, new_user_fraction=0.4, min_new_interactions=3)
    assert info["cut_time"] == 100 and info["new_users"] == 2
    assert metatl.split(log, train, test, new_user_fraction=0.4, min_new_interactions=3,
                        columns=["userId", 1, "timestamp"]) == info
    assert metatl.split(log, train, test, new_user_fraction=0.4, min_new_interactions=3, columns="0,1,3") == info
    dated = tmp_path / "dated.tsv"
    dated.write_text("user_id:token\titem_id:token\ttimestamp:float\n"
                     "1\t10\t2014-03-01\n1\t11\t2014-03-02T00:00:00Z\n"
                     "3\t10\t2014-04-01\n3\t11\t2014-04-02\n3\t12\t2014-04-03\n3\t13\t2014-04-04\n")
    for cut in ("2014-04-01", "2014-04-01T00:00:00Z", datetime.datetime(2014, 4, 1), datetime.date(2014, 4, 1), 1396310400):
        info = metatl.split(dated, train, test, cut_time=cut)
        assert info["cut_time"] == 1396310400 and info["train_users"] == 1 and info["new_users"] == 1, cut
    assert open(train).read() == "1\t10\t1393632000\n1\t11\t1393718400\n"


def test_split_errors(log, tmp_path):
    train, test = tmp_path / "a", tmp_path / "b"
    with pytest.raises(ValueError, match="no new user"):
        metatl.split(log, train, test)   # 0.2 of 5 users: user 5, with 3 < 4 interactions
    with pytest.raises(ValueError, match="new-user fraction must be between 0 and 1"):
        metatl.split(log, train, test, new_user_fraction=1.5)
    with pytest.raises(ValueError, match="not both"):
        metatl.split(log, train, test, cut_time=1, new_user_fraction=0.5)
    with pytest.raises(ValueError, match="cut_time: expected a number or an ISO 8601 date"):
        metatl.split(log, train, test, cut_time="soon")
    with pytest.raises(ValueError, match="the header has no column named 'film'"):
        metatl.split(log, train, test, columns="userId,film,timestamp")
    with pytest.raises(TypeError, match="columns must be"):
        metatl.split(log, train, test, columns=["userId", "movieId"])
    with pytest.raises(TypeError, match="min_new_interactions"):
        metatl.split(log, train, test, min_new_interactions=2.5)
    bad = tmp_path / "bad.csv"
    bad.write_text("userId,movieId,rating,timestamp\n1,10,5,1\n1,,4,2\n")
    with pytest.raises(ValueError, match=r"bad.csv:3: field 'item' \(column movieId\): expected an id, found an empty field"):
        metatl.split(bad, train, test)
    with pytest.raises(FileNotFoundError):
        metatl.split(tmp_path / "missing.csv", train, test)
