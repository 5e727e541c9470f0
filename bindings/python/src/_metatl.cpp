// pybind11 glue over include/metatl.h: handles, numpy buffers, GIL release, status → exception.
// Python idioms (argument checking, progress, chunked training) live in metatl/__init__.py.
#include <metatl.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <utility>

namespace py = pybind11;

namespace {

// metatl.BusyError and metatl.DivergedError (RuntimeError subclasses), created at import.
PyObject *busy_error = PyExc_RuntimeError;
PyObject *diverged_error = PyExc_RuntimeError;

[[noreturn]] void raise(PyObject *type, const std::string &message) {
    PyErr_SetString(type, message.c_str());
    throw py::error_already_set();
}

// Raises the Python exception that matches a failed status, with the library's message.
void check(mt_status status) {
    if (status == MT_OK) return;
    std::string message = mt_last_error_message();
    PyObject *type = PyExc_RuntimeError;
    switch (status) {
    case MT_ERR_INVALID_ARGUMENT:
    case MT_ERR_INVALID_DATA:
    case MT_ERR_BUFFER_TOO_SMALL:
    case MT_ERR_UNKNOWN_ITEM:
    case MT_ERR_BAD_CHECKPOINT: type = PyExc_ValueError; break;
    case MT_ERR_NOT_FOUND: type = PyExc_FileNotFoundError; break;
    case MT_ERR_IO: type = PyExc_OSError; break;
    case MT_ERR_BUSY: type = busy_error; break;
    case MT_ERR_DIVERGED: type = diverged_error; break;
    default: type = PyExc_RuntimeError; break;
    }
    raise(type, message);
}

// A str's text as UTF-8 for a message (a lone surrogate backslash-escaped, never an error).
std::string text(const py::handle &s) {
    PyObject *bytes = PyUnicode_AsEncodedString(s.ptr(), "utf-8", "backslashreplace");
    if (bytes == nullptr) throw py::error_already_set();
    return std::string(py::reinterpret_steal<py::bytes>(bytes));
}
std::string text(const py::int_ &i) { return text(py::str(i)); }
std::string show(py::handle v) { return text(py::repr(v)); }
std::string describe(py::handle v) { return show(v) + " (" + Py_TYPE(v.ptr())->tp_name + ")"; }

// A path as open() takes it (str, bytes or os.PathLike, in the file system encoding). An
// embedded NUL is ValueError("embedded null byte") as open() says, never a shorter path. The
// engine reads a path as UTF-8 and repairs invalid bytes (String(cString:)), which would open
// another file: such a path is refused until the C API takes paths as bytes.
std::string fs_path(py::handle v, const std::string &name) {
    PyObject *bytes = nullptr;
    if (!PyUnicode_FSConverter(v.ptr(), &bytes)) {
        py::error_already_set e;
        raise(e.matches(PyExc_ValueError) ? PyExc_ValueError : PyExc_TypeError,
              name + ": " + text(py::str(e.value())));
    }
    std::string path(py::reinterpret_steal<py::bytes>(bytes));
    PyObject *utf8 = PyUnicode_DecodeUTF8(path.data(), (Py_ssize_t)path.size(), "strict");
    if (utf8 == nullptr) {
        PyErr_Clear();
        raise(PyExc_ValueError, name + ": " + show(py::bytes(path)) + " is not valid UTF-8, which libmetatl cannot open");
    }
    Py_DECREF(utf8);
    return path;
}

// Handles are native: pickling one would otherwise abort the interpreter (protocols 0 and 1).
template <typename Class> void not_picklable(Class &cls) {
    cls.def("__reduce_ex__", [](py::handle self, py::handle) -> py::object {
        raise(PyExc_TypeError, std::string(Py_TYPE(self.ptr())->tp_name) +
                                   " is a native handle and cannot be pickled or copied; use the metatl package's classes");
    });
}

using Ids = py::array_t<int64_t, py::array::c_style>;
using Floats = py::array_t<float, py::array::c_style>;
using Doubles = py::array_t<double, py::array::c_style>;

struct Dataset {
    mt_dataset *handle = nullptr;
    ~Dataset() { mt_dataset_free(handle); }

    py::dict info() const {
        mt_dataset_info i = mt_dataset_info_default();
        check(mt_dataset_info_get(handle, &i));
        py::dict d;
        d["items"] = i.items;
        d["items_not_in_training"] = i.items_not_in_training;
        d["train_users"] = i.train_users;
        d["train_interactions"] = i.train_interactions;
        d["valid_users"] = i.valid_users;
        d["test_users"] = i.test_users;
        d["K"] = i.K;
        return d;
    }
};

std::shared_ptr<Dataset> dataset_from_files(py::handle train, py::handle test, int32_t K, uint64_t seed) {
    std::string train_path = fs_path(train, "train"), test_path = fs_path(test, "test");
    auto d = std::make_shared<Dataset>();
    mt_status s;
    {
        py::gil_scoped_release release;
        s = mt_dataset_from_files(train_path.c_str(), test_path.c_str(), K, seed, &d->handle);
    }
    check(s);
    return d;
}

std::shared_ptr<Dataset> dataset_from_arrays(Ids users, Ids items, Doubles times, Ids test_users, Ids test_items,
                                             Doubles test_times, int32_t K, uint64_t seed) {
    if (users.size() != items.size() || users.size() != times.size())
        throw py::value_error("users, items and timestamps must have the same length");
    if (test_users.size() != test_items.size() || test_users.size() != test_times.size())
        throw py::value_error("test_users, test_items and test_timestamps must have the same length");
    auto d = std::make_shared<Dataset>();
    mt_status s;
    {
        py::gil_scoped_release release;
        s = mt_dataset_from_arrays(users.data(), items.data(), times.data(), (size_t)users.size(), test_users.data(),
                                   test_items.data(), test_times.data(), (size_t)test_users.size(), K, seed, &d->handle);
    }
    check(s);
    return d;
}

std::shared_ptr<Dataset> dataset_synthetic(int32_t side, int32_t train_users, int32_t new_users, uint64_t seed) {
    auto d = std::make_shared<Dataset>();
    check(mt_dataset_synthetic(side, train_users, new_users, seed, &d->handle));
    return d;
}

// A copy of a model's training state (mt_snapshot), owned by Python.
struct Snapshot {
    mt_snapshot *handle = nullptr;
    Snapshot() = default;
    Snapshot(const Snapshot &) = delete;
    Snapshot &operator=(const Snapshot &) = delete;
    ~Snapshot() { mt_snapshot_free(handle); }
    int64_t step() const { return mt_snapshot_step(handle); }
};

struct Model {
    mt_model *handle = nullptr;
    ~Model() { mt_model_free(handle); }

    int32_t dim() const {
        int32_t d = 0;
        check(mt_model_info(handle, nullptr, &d, nullptr));
        return d;
    }
    int64_t items() const {
        int64_t n = 0;
        check(mt_model_info(handle, &n, nullptr, nullptr));
        return n;
    }
    int64_t step() const {
        int64_t s = 0;
        check(mt_model_info(handle, nullptr, nullptr, &s));
        return s;
    }

    py::dict config() const {
        mt_config c = mt_config_default();
        check(mt_model_config(handle, &c));
        py::dict d;
        d["K"] = c.K; d["dim"] = c.dim; d["hidden"] = py::make_tuple(c.hidden1, c.hidden2);
        d["batch_size"] = c.batch_size; d["learning_rate"] = c.learning_rate; d["beta"] = c.beta;
        d["margin"] = c.margin; d["dropout"] = c.dropout; d["seed"] = c.seed;
        d["sampler"] = c.sampler == MT_SAMPLER_REFERENCE ? "reference" : "contiguous";
        d["inner_step"] = c.inner_step == MT_INNER_STEP_REFERENCE ? "reference" : "per_task";
        d["threads"] = c.threads;
        return d;
    }

    std::shared_ptr<Snapshot> snapshot() const {
        auto snap = std::make_shared<Snapshot>();
        check(mt_model_snapshot(handle, &snap->handle));
        return snap;
    }
    void restore(const Snapshot &snap) { check(mt_model_restore(handle, snap.handle)); }

    float train(const Dataset &data, int64_t steps) {
        float loss = 0;
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_train(handle, data.handle, steps, &loss);
        }
        check(s);
        return loss;
    }

    py::dict evaluate(const Dataset &data, int32_t split, int32_t protocol) const {
        mt_metrics m = mt_metrics_default();
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_evaluate(handle, data.handle, split, protocol, &m);
        }
        check(s);
        py::dict d;
        d["MRR"] = m.mrr; d["NDCG@1"] = m.ndcg1; d["NDCG@5"] = m.ndcg5; d["NDCG@10"] = m.ndcg10;
        d["Hits@1"] = m.hits1; d["Hits@5"] = m.hits5; d["Hits@10"] = m.hits10; d["users"] = m.users;
        return d;
    }

    Floats adapt(Ids history) const {
        Floats out(dim());
        float *r = out.mutable_data();
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_adapt(handle, history.data(), (size_t)history.size(), r, (size_t)out.size());
        }
        check(s);
        return out;
    }

    Floats score(Floats relation, int64_t last, Ids candidates) const {
        Floats out(candidates.size());
        float *o = out.mutable_data();
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_score(handle, relation.data(), (size_t)relation.size(), last, candidates.data(),
                               (size_t)candidates.size(), o);
        }
        check(s);
        return out;
    }

    std::pair<Ids, Floats> recommend(Ids history, int64_t k, bool exclude_history) const {
        if (k < 1) throw py::value_error("k must be at least 1 (got " + std::to_string(k) + ")");
        int64_t n_items = items();
        int64_t room = k < n_items ? k : n_items;
        Ids ids(room);
        Floats scores(room);
        int64_t *ip = ids.mutable_data();
        float *sp = scores.mutable_data();
        size_t written = 0;
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_recommend(handle, history.data(), (size_t)history.size(), (size_t)room,
                                   exclude_history ? 0u : MT_RECOMMEND_INCLUDE_HISTORY, ip, sp, &written);
        }
        check(s);
        ids.resize({(py::ssize_t)written});
        scores.resize({(py::ssize_t)written});
        return {ids, scores};
    }

    std::pair<Ids, Floats> item_table(bool with_embeddings) const {
        int64_t n = items();
        int32_t d = dim();
        Ids ids(n);
        Floats emb(with_embeddings ? std::vector<py::ssize_t>{(py::ssize_t)n, (py::ssize_t)d} : std::vector<py::ssize_t>{0});
        check(mt_model_items(handle, ids.mutable_data(), (size_t)n, with_embeddings ? emb.mutable_data() : nullptr,
                             with_embeddings ? (size_t)(n * d) : 0));
        return {ids, emb};
    }

    void save(py::handle path) const {
        std::string p = fs_path(path, "path");
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_save(handle, p.c_str());
        }
        check(s);
    }
};

std::shared_ptr<Model> model_create(py::dict settings, const Dataset &data) {
    mt_config c = mt_config_default();
    for (auto item : settings) {
        std::string key = py::str(item.first);
        py::handle v = item.second;
        if (key == "K") c.K = v.cast<int32_t>();
        else if (key == "dim") c.dim = v.cast<int32_t>();
        else if (key == "hidden1") c.hidden1 = v.cast<int32_t>();
        else if (key == "hidden2") c.hidden2 = v.cast<int32_t>();
        else if (key == "batch_size") c.batch_size = v.cast<int32_t>();
        else if (key == "learning_rate") c.learning_rate = v.cast<float>();
        else if (key == "beta") c.beta = v.cast<float>();
        else if (key == "margin") c.margin = v.cast<float>();
        else if (key == "dropout") c.dropout = v.cast<float>();
        else if (key == "seed") c.seed = v.cast<uint64_t>();
        else if (key == "sampler") c.sampler = v.cast<int32_t>();
        else if (key == "inner_step") c.inner_step = v.cast<int32_t>();
        else if (key == "threads") c.threads = v.cast<int32_t>();
        else throw py::value_error("unknown setting '" + key + "'");
    }
    auto m = std::make_shared<Model>();
    check(mt_model_create(&c, data.handle, &m->handle));
    return m;
}

std::shared_ptr<Model> model_load(py::handle path) {
    std::string p = fs_path(path, "path");
    auto m = std::make_shared<Model>();
    mt_status s;
    {
        py::gil_scoped_release release;
        s = mt_model_load(p.c_str(), &m->handle);
    }
    check(s);
    return m;
}

PyObject *new_error(const char *name, const char *doc) {
    PyObject *type = PyErr_NewExceptionWithDoc(name, doc, PyExc_RuntimeError, nullptr);
    if (type == nullptr) throw py::error_already_set();
    return type;  // kept for the life of the process, as the module's attribute
}

}  // namespace

PYBIND11_MODULE(_metatl, m) {
    m.doc() = "Low-level bindings of libmetatl (include/metatl.h); use the `metatl` package instead.";
    m.def("version", [] { return std::string(mt_version()); });
    m.attr("HEADER_VERSION") = MT_VERSION_STRING;
    m.attr("SPLIT_VALID") = MT_SPLIT_VALID;
    m.attr("SPLIT_TEST") = MT_SPLIT_TEST;
    m.attr("PROTOCOL_SAMPLED") = MT_PROTOCOL_SAMPLED;
    m.attr("PROTOCOL_FULL") = MT_PROTOCOL_FULL;
    m.attr("SAMPLER_REFERENCE") = MT_SAMPLER_REFERENCE;
    m.attr("SAMPLER_CONTIGUOUS") = MT_SAMPLER_CONTIGUOUS;
    m.attr("INNER_STEP_REFERENCE") = MT_INNER_STEP_REFERENCE;
    m.attr("INNER_STEP_PER_TASK") = MT_INNER_STEP_PER_TASK;

    busy_error = new_error("metatl.BusyError",
                           "The model is in use by a conflicting call (MT_ERR_BUSY; a RuntimeError): fit needs the\n"
                           "model alone, and serving or reading its step is refused while it trains. Nothing was\n"
                           "changed; retry later.");
    diverged_error = new_error("metatl.DivergedError",
                               "Training produced a non-finite or out-of-bound value (MT_ERR_DIVERGED; a RuntimeError).\n"
                               "The model is left as it was before the failing step; a lower learning_rate usually\n"
                               "helps.");
    m.attr("BusyError") = py::handle(busy_error);
    m.attr("DivergedError") = py::handle(diverged_error);

    py::class_<Dataset, std::shared_ptr<Dataset>> dataset(m, "Dataset");
    dataset.def("info", &Dataset::info);
    not_picklable(dataset);
    m.def("dataset_from_files", &dataset_from_files, py::arg("train"), py::arg("test"), py::arg("K"), py::arg("seed"));
    m.def("dataset_from_arrays", &dataset_from_arrays);
    m.def("dataset_synthetic", &dataset_synthetic);

    py::class_<Snapshot, std::shared_ptr<Snapshot>> snapshot(m, "Snapshot");
    snapshot.def("step", &Snapshot::step);
    not_picklable(snapshot);

    py::class_<Model, std::shared_ptr<Model>> model(m, "Model");
    model.def("dim", &Model::dim)
        .def("items", &Model::items)
        .def("step", &Model::step)
        .def("config", &Model::config)
        .def("train", &Model::train)
        .def("snapshot", &Model::snapshot)
        .def("restore", &Model::restore)
        .def("evaluate", &Model::evaluate)
        .def("adapt", &Model::adapt)
        .def("score", &Model::score)
        .def("recommend", &Model::recommend)
        .def("item_table", &Model::item_table)
        .def("save", &Model::save, py::arg("path"));
    not_picklable(model);
    m.def("model_create", &model_create);
    m.def("model_load", &model_load, py::arg("path"));
}
