// CTC prefix beam search with shallow LM fusion and hotwords: the compiled core of
// ds2ray/decode/prefix_search.py (same prefixes, same merge keys, same score arithmetic, same pruning;
// tests/decode/test_native.py checks texts and scores against the Python search and pyctcdecode).
//
// Shapes: a chunk of log-probs is (T, V) float32, C-contiguous, already normalised and clipped
// (ds2ray.decode.beam._normalise). V labels; labels[blank] == "".
//
// Objects (see the pybind11 module at the end):
//   Core      per label set and LM: interned words, the trie of partial words (with pyctcdecode's
//             "can this still become an LM word" test on the sorted unigrams), and the LM cache
//             (state id, word id) -> (KenLM log10 score, next state id), filled through a Python
//             object (ds2ray.decode.lm_states.LmStates) on a miss; KenLM states are numbered there.
//             Words KenLM does not know share one entry per state (KenLM scores them all as <unk>).
//             The caches outlive utterances, so a warm decoder rarely calls Python.
//   Hotwords  phrases (word sequences) with weights: a trie over word ids, with cached transitions.
//   Search    one utterance: begin (constructor) / advance(chunk) / best() / finish(n).
//
// Threads: every call that reads or changes a core (a search's advance/best/finish/constructor,
// hotword tables, stats) releases the GIL and holds the core's mutex; the core takes the GIL back only
// to ask the Python LM on a cache miss. So a search runs beside other Python threads (a network
// forward pass, another core's search), and searches sharing one core take turns.
//
// Prefix = (text node, part node, last label). Text nodes (per search) are word sequences, part nodes
// (per core) the word being spelled. Floating-point arithmetic follows the Python search operation by
// operation (no -ffast-math, no FMA contraction). One difference: a frame's labels are visited in
// ascending order, the Python search visits them in a Python set's order, so where three or more
// prefixes merge the sum may round differently in the last bit (the tests allow 1e-12 relative).

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

constexpr double NEG_INF = -std::numeric_limits<double>::infinity();
constexpr size_t kMaxLmEntries = 4'000'000;  // LM answers kept per core (~200 MB)

inline uint64_t pack(uint32_t a, uint32_t b) { return (uint64_t(a) << 32) | b; }

inline double logaddexp(double a, double b) {  // pyctcdecode's _sum_log_scores, same order
  if (a >= b) return a + std::log(1 + std::exp(b - a));
  return b + std::log(1 + std::exp(a - b));
}

inline size_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return size_t(x ^ (x >> 31));
}

// Open addressing with linear probing, keys packed (a << 32 | b) with a, b < 2^31: the lookups of
// the inner loop (child of a partial word, child of a text, LM answers) without std::unordered_map's
// bucket division and pointer chasing.
template <class V>
class FlatMap {
 public:
  FlatMap() { rehash(64); }
  const V* find(uint64_t key) const {
    size_t h = mix(key) & mask_;
    while (true) {
      const Slot& s = slots_[h];
      if (s.key == key) return &s.val;
      if (s.key == EMPTY) return nullptr;
      h = (h + 1) & mask_;
    }
  }
  void insert(uint64_t key, const V& val) {  // key must be absent
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    place(key, val);
    ++size_;
  }
  size_t size() const { return size_; }
  void clear() {
    slots_.assign(64, Slot{EMPTY, V{}});
    mask_ = 63;
    size_ = 0;
  }

 private:
  static constexpr uint64_t EMPTY = ~uint64_t(0);
  struct Slot {
    uint64_t key;
    V val;
  };
  void place(uint64_t key, const V& val) {
    size_t h = mix(key) & mask_;
    while (slots_[h].key != EMPTY) h = (h + 1) & mask_;
    slots_[h] = Slot{key, val};
  }
  void rehash(size_t n) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(n, Slot{EMPTY, V{}});
    mask_ = n - 1;
    for (const Slot& s : old)
      if (s.key != EMPTY) place(s.key, s.val);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

// Open addressing, cleared in O(1) by a generation stamp: the per-frame merge table.
struct Key3 {
  uint32_t a, b, c;
  bool operator==(const Key3& o) const { return a == o.a && b == o.b && c == o.c; }
};

class FrameTable {
 public:
  // Index of key's entry, or -1; `slot` receives where to insert.
  int find(const Key3& k, size_t& slot) const {
    size_t h = mix(pack(k.a, k.b) ^ (uint64_t(k.c) * 0x9e3779b97f4a7c15ULL)) & mask_;
    while (stamp_[h] == gen_) {
      if (keys_[h] == k) return vals_[h];
      h = (h + 1) & mask_;
    }
    slot = h;
    return -1;
  }
  void insert(size_t slot, const Key3& k, int v) {
    stamp_[slot] = gen_;
    keys_[slot] = k;
    vals_[slot] = v;
  }
  void reset(size_t expected) {
    size_t need = 16;
    while (need < expected * 2 + 8) need <<= 1;
    if (need > keys_.size()) {
      keys_.assign(need, Key3{0, 0, 0});
      vals_.assign(need, 0);
      stamp_.assign(need, 0);
      gen_ = 0;
      mask_ = need - 1;
    }
    if (++gen_ == 0) {  // wrapped: clear stamps
      std::fill(stamp_.begin(), stamp_.end(), 0);
      gen_ = 1;
    }
  }

 private:
  std::vector<Key3> keys_;
  std::vector<int> vals_;
  std::vector<uint32_t> stamp_;
  uint32_t gen_ = 0;
  size_t mask_ = 0;
};

enum Kind : uint8_t { BLANK, SPACE, START, CHAR };

struct PartNode {
  int parent;
  int len;        // characters (Python len of the partial word)
  int word = -1;  // interned word id, once asked for
  int8_t oov = -1;
  std::string text;
};

struct LmEntry {
  double raw = 0.0;  // KenLM BaseScore (log10)
  int end_state = 0;
};

class Core {
 public:
  Core(const std::vector<std::string>& labels, bool word_start, py::object lm, py::object unigrams, double log_base)
      : lm_(std::move(lm)), has_lm_(!lm_.is_none()), log_base_(log_base) {
    int n = int(labels.size());
    kinds_.resize(n);
    label_text_.resize(n);
    blank_ = -1;
    parts_.push_back(PartNode{-1, 0, -1, -1, std::string()});
    for (int i = 0; i < n; ++i) {
      const std::string& lab = labels[i];
      if (lab.empty()) {
        kinds_[i] = BLANK;
        if (blank_ < 0) blank_ = i;
      } else if (word_start) {  // "\u2581x": a word starts; "\u2581" alone: a word boundary
        static const std::string ws = "\xe2\x96\x81";
        if (lab.compare(0, ws.size(), ws) != 0) throw std::invalid_argument("word-start labels must begin with U+2581");
        label_text_[i] = lab.substr(ws.size());
        kinds_[i] = label_text_[i].empty() ? SPACE : START;
      } else if (lab == " ") {
        kinds_[i] = SPACE;
      } else {
        kinds_[i] = CHAR;
        label_text_[i] = lab;
      }
    }
    if (blank_ < 0) throw std::invalid_argument("labels need a blank ('')");
    start_part_.assign(n, 0);
    for (int i = 0; i < n; ++i)
      if (kinds_[i] == START) start_part_[i] = child_part(0, i);
    if (has_lm_) {
      lm_score_ = lm_.attr("score");
      lm_end_ = lm_.attr("end_score");
      lm_word_ = lm_.attr("word_info");
    }
    has_unigrams_ = !unigrams.is_none();
    if (has_unigrams_) {
      for (auto item : unigrams) unigrams_.push_back(item.cast<std::string>());
      std::sort(unigrams_.begin(), unigrams_.end());  // byte order: words sharing a prefix are adjacent
    }
    word_id("");  // id 0: the empty word (scored at the end of an utterance ending in a space)
    unk_word_ = word_id("<unk>");  // KenLM scores every word outside its vocabulary as <unk>
  }

  int blank() const { return blank_; }
  int num_labels() const { return int(kinds_.size()); }
  Kind kind(int label) const { return kinds_[label]; }
  bool has_lm() const { return has_lm_; }
  double log_base() const { return log_base_; }

  int child_part(int part, int label) {
    auto key = pack(uint32_t(part), uint32_t(label));
    if (const int* hit = part_children_.find(key)) return *hit;
    int id = int(parts_.size());
    const PartNode& p = parts_[part];
    // START labels begin a new word of one character; CHAR labels extend the current one
    int len = kinds_[label] == START ? 1 : p.len + 1;
    parts_.push_back(PartNode{part, len, -1, -1, p.text + label_text_[label]});
    part_children_.insert(key, id);
    return id;
  }
  int start_part(int label) const { return start_part_[label]; }
  const PartNode& part(int id) const { return parts_[id]; }

  int part_word(int part) {
    PartNode& p = parts_[part];
    if (p.word < 0) p.word = word_id(p.text);
    return p.word;
  }

  int word_id(const std::string& w) {
    auto it = words_.find(w);
    if (it != words_.end()) return it->second;
    int id = int(word_text_.size());
    word_text_.push_back(w);
    word_key_.push_back(-1);
    word_unk_.push_back(0);
    words_.emplace(w, id);
    return id;
  }
  const std::string& word(int id) const { return word_text_[id]; }

  // pyctcdecode's char-trie test: does any unigram start with the partial word?
  bool part_oov(int part) {
    PartNode& p = parts_[part];
    if (p.oov < 0) {
      bool found = false;
      if (has_unigrams_) {
        auto it = std::lower_bound(unigrams_.begin(), unigrams_.end(), p.text);
        found = it != unigrams_.end() && it->compare(0, p.text.size(), p.text) == 0;
      }
      p.oov = found ? 0 : 1;
    }
    return p.oov == 1;
  }

  // The LM's answer for `word` after `state`; `unk` receives pyctcdecode's unknown-word flag.
  LmEntry lm_lookup(int state, int word, bool& unk) {
    if (word_key_[word] < 0) {
      py::gil_scoped_acquire gil;
      py::tuple info = lm_word_(py::str(word_text_[word]));
      word_key_[word] = info[0].cast<bool>() ? word : unk_word_;
      word_unk_[word] = info[1].cast<bool>() ? 1 : 0;
    }
    unk = word_unk_[word] == 1;
    int w = word_key_[word];
    auto key = pack(uint32_t(state), uint32_t(w));
    if (const LmEntry* hit = lm_cache_.find(key)) return *hit;
    LmEntry e;
    {
      py::gil_scoped_acquire gil;
      py::tuple r = lm_score_(state, py::str(word_text_[w]));
      e = LmEntry{r[0].cast<double>(), r[1].cast<int>()};
    }
    lm_cache_.insert(key, e);
    return e;
  }

  double end_score(int state) {
    if (const double* hit = end_cache_.find(uint64_t(state))) return *hit;
    double v;
    {
      py::gil_scoped_acquire gil;
      v = lm_end_(state).cast<double>();
    }
    end_cache_.insert(uint64_t(state), v);
    return v;
  }

  // Searches alive on this core: the LM cache may only be emptied when none holds a state number.
  // leave() runs in a search's destructor (GIL held, core not locked), hence atomic.
  void enter() { ++live_; }
  void leave() { --live_; }

  // Held (GIL released) by every call that touches the core; see "Threads" at the top.
  std::mutex& mutex() { return mutex_; }

  // Bound memory in a long-running process: past `max_entries` LM answers, start them afresh (and the
  // state numbering) when no search is under way.
  void trim(size_t max_entries) {
    if (live_ > 0 || !has_lm_ || lm_cache_.size() <= max_entries) return;
    lm_cache_.clear();
    end_cache_.clear();
    py::gil_scoped_acquire gil;
    lm_.attr("reset")();
  }

  py::dict stats() {
    size_t sizes[4];
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mutex_);
      sizes[0] = word_text_.size();
      sizes[1] = parts_.size();
      sizes[2] = lm_cache_.size();
      sizes[3] = end_cache_.size();
    }
    py::dict d;
    d["words"] = sizes[0];
    d["parts"] = sizes[1];
    d["lm_cache"] = sizes[2];
    d["end_cache"] = sizes[3];
    return d;
  }

 private:
  py::object lm_, lm_score_, lm_end_, lm_word_;
  bool has_lm_, has_unigrams_ = false;
  double log_base_;
  int blank_, unk_word_ = 0;
  std::atomic<int> live_{0};
  std::mutex mutex_;
  std::vector<Kind> kinds_;
  std::vector<std::string> label_text_;
  std::vector<int> start_part_;
  std::vector<PartNode> parts_;
  FlatMap<int> part_children_;
  std::unordered_map<std::string, int> words_;
  std::vector<std::string> word_text_;
  std::vector<int> word_key_;  // word id to score with (itself, or <unk> when KenLM lacks it)
  std::vector<int8_t> word_unk_;
  std::vector<std::string> unigrams_;
  FlatMap<LmEntry> lm_cache_;
  FlatMap<double> end_cache_;
};

// Hotword phrases: a trie over word ids. A hotword state is the set of trie nodes (sorted ids) that
// match a suffix of the finished words; see ds2ray/decode/hotwords.py for the scoring rule.
class Hotwords {
 public:
  Hotwords(std::shared_ptr<Core> core, const std::vector<std::pair<std::vector<std::string>, double>>& phrases)
      : core_(std::move(core)) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(core_->mutex());
    nodes_.push_back(Node{});
    for (const auto& [words, weight] : phrases) {
      if (words.empty()) continue;
      int total = 0;
      for (size_t i = 0; i < words.size(); ++i) total += int(utf8_len(words[i])) + (i ? 1 : 0);
      int node = 0, chars = 0;
      for (size_t i = 0; i < words.size(); ++i) {
        int w = core_->word_id(words[i]);
        known_.insert(w);
        Node& n = nodes_[node];
        auto it = n.children.find(w);
        int child;
        if (it == n.children.end()) {
          child = int(nodes_.size());
          nodes_[node].children.emplace(w, child);
          nodes_[node].child_order.push_back(child);
          Node c;
          c.word = words[i];
          c.word_chars = int(utf8_len(words[i]));
          c.prefix_chars = chars + (i ? 1 : 0);  // characters before this word, its space included
          nodes_.push_back(std::move(c));
        } else {
          child = it->second;
        }
        nodes_[child].through.emplace_back(weight, total);
        chars += int(utf8_len(words[i])) + (i ? 1 : 0);
        node = child;
      }
      nodes_[node].end_bonus += weight;
    }
    states_.push_back({});
    state_ids_.emplace(std::vector<int>{}, 0);
  }

  // (state after finishing `word` in `state`, bonus of the phrases that end there)
  std::pair<int, double> advance(int state, int word) {
    auto key = pack(uint32_t(state), uint32_t(word));
    if (const auto* hit = trans_.find(key)) return *hit;
    std::vector<int> next;
    double bonus = 0.0;
    auto step = [&](int n) {
      auto c = nodes_[n].children.find(word);
      if (c != nodes_[n].children.end()) next.push_back(c->second);
    };
    for (int n : states_[state]) step(n);
    step(0);
    std::sort(next.begin(), next.end());
    for (int n : next) bonus += nodes_[n].end_bonus;
    std::vector<int> active;
    for (int n : next)
      if (!nodes_[n].children.empty()) active.push_back(n);
    int sid = intern(active);
    auto r = std::make_pair(sid, bonus);
    trans_.insert(key, r);
    return r;
  }

  // Bonus of a partial word `part` after hotword state `state`; NaN when no phrase continues so.
  double partial(int state, int part) {
    // nothing under way (most prefixes): a dense table by partial word, else a hash table
    if (state == 0 && size_t(part) < root_partial_.size() && root_known_[part]) return root_partial_[part];
    auto key = pack(uint32_t(state), uint32_t(part));
    if (state != 0)
      if (const double* hit = partial_cache_.find(key)) return *hit;
    const PartNode& p = core_->part(part);
    double best = std::numeric_limits<double>::quiet_NaN();
    auto consider = [&](int n) {
      for (int c : nodes_[n].child_order) {
        const Node& ch = nodes_[c];
        if (ch.word.compare(0, p.text.size(), p.text) != 0 || ch.word.size() < p.text.size()) continue;
        int matched = ch.prefix_chars + p.len;
        for (const auto& [weight, total] : ch.through) {
          double v = weight * double(matched) / double(total);
          if (std::isnan(best) || v > best) best = v;
        }
      }
    };
    for (int n : states_[state]) consider(n);
    if (p.len > 0) consider(0);
    if (state == 0) {
      if (size_t(part) >= root_partial_.size()) {
        size_t n = std::max<size_t>(size_t(part) + 1, root_partial_.size() * 2);
        root_partial_.resize(n, 0.0);
        root_known_.resize(n, 0);
      }
      root_partial_[part] = best;
      root_known_[part] = 1;
    } else {
      partial_cache_.insert(key, best);
    }
    return best;
  }

  std::shared_ptr<Core> core() const { return core_; }
  bool knows(int word) const { return known_.count(word) > 0; }

 private:
  struct Node {
    std::unordered_map<int, int> children;
    std::vector<int> child_order;
    std::vector<std::pair<double, int>> through;  // (weight, phrase characters) of phrases through here
    std::string word;
    int word_chars = 0, prefix_chars = 0;
    double end_bonus = 0.0;
  };

  static size_t utf8_len(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  }

  int intern(const std::vector<int>& s) {
    auto it = state_ids_.find(s);
    if (it != state_ids_.end()) return it->second;
    int id = int(states_.size());
    states_.push_back(s);
    state_ids_.emplace(s, id);
    return id;
  }

  std::shared_ptr<Core> core_;
  std::unordered_set<int> known_;  // words of the phrases: no unknown-word penalty for them
  std::vector<Node> nodes_;
  std::vector<std::vector<int>> states_;
  std::map<std::vector<int>, int> state_ids_;
  FlatMap<std::pair<int, double>> trans_;
  FlatMap<double> partial_cache_;
  std::vector<double> root_partial_;
  std::vector<uint8_t> root_known_;
};

struct TextNode {
  int parent;
  int word;
  int lm_state = 0;
  int hot_state = 0;
  int tail = 0;
  bool scored = false;
  double lm = 0.0;  // accumulated LM score (pyctcdecode's cached_lm_scores value)
  double hw = 0.0;  // accumulated hotword bonus
};

struct Beam {
  int text, part, last;
  double logit, total;
};

class Search {
 public:
  Search(std::shared_ptr<Core> core, std::shared_ptr<Hotwords> hot, int beam_width, double beam_prune_logp,
         double token_min_logp, bool prune_history, double alpha, double beta, double unk_score_offset,
         int history_n)
      : core_(std::move(core)), hot_(std::move(hot)), beam_width_(beam_width), prune_(beam_prune_logp),
        token_min_(token_min_logp), prune_history_(prune_history), alpha_(alpha), beta_(beta),
        unk_(unk_score_offset), history_n_(std::max(1, history_n)) {
    if (hot_ && hot_->core() != core_) throw std::invalid_argument("hotwords were built for another core");
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(core_->mutex());
    core_->trim(kMaxLmEntries);
    core_->enter();
    TextNode root{-1, -1};
    root.scored = true;
    texts_.push_back(root);
    tails_.push_back({});
    tail_ids_.emplace(std::vector<int>{}, 0);
    beams_.push_back(Beam{0, 0, core_->blank(), 0.0, 0.0});
  }

  ~Search() { core_->leave(); }
  Search(const Search&) = delete;
  Search& operator=(const Search&) = delete;

  void advance(py::array_t<float, py::array::c_style | py::array::forcecast> chunk) {
    if (chunk.ndim() != 2 || chunk.shape(1) != core_->num_labels())
      throw std::invalid_argument("expected a (T, " + std::to_string(core_->num_labels()) + ") chunk");
    auto a = chunk.unchecked<2>();  // `chunk` (an argument) keeps the buffer alive without the GIL
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(core_->mutex());
    const int V = core_->num_labels();
    std::vector<int> idx;
    idx.reserve(V);
    for (py::ssize_t t = 0; t < a.shape(0); ++t) {
      const float* col = a.data(t, 0);
      idx.clear();
      int arg = 0;
      for (int v = 0; v < V; ++v) {
        if (col[v] > col[arg]) arg = v;
        if (col[v] >= token_min_) idx.push_back(v);
      }
      if (col[arg] < token_min_) {  // the frame's best is always expanded
        idx.insert(std::lower_bound(idx.begin(), idx.end(), arg), arg);
      }
      step(col, idx);
    }
    frames_ += a.shape(0);
  }

  // (text so far with the word being spelled, combined score) of the best prefix after the last frame.
  std::pair<std::string, double> best() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(core_->mutex());
    const Beam& b = beams_.front();
    std::string t = text_of(b.text);
    const std::string& p = core_->part(b.part).text;
    if (!p.empty()) t += (t.empty() ? "" : " ") + p;
    return {t, b.total};
  }

  // The best `n` hypotheses if the utterance ended now: (text, acoustic score, combined score).
  std::vector<std::tuple<std::string, double, double>> finish(int n) {
    struct Final {
      int node, parent, word;
      double logit;
    };
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(core_->mutex());
    std::vector<Final> finals;
    std::unordered_map<int, int> index;
    for (const Beam& b : beams_) {
      int word = core_->part_word(b.part);
      int node = b.part == 0 ? b.text : text_child(b.text, word);
      auto it = index.find(node);
      if (it == index.end()) {
        index.emplace(node, int(finals.size()));
        finals.push_back(Final{node, b.text, word, b.logit});
      } else {
        Final& f = finals[it->second];
        f.logit = logaddexp(f.logit, b.logit);
      }
    }
    std::vector<std::pair<double, int>> scored;  // (total, index)
    double best = NEG_INF;
    for (size_t i = 0; i < finals.size(); ++i) {
      const Final& f = finals[i];
      double total = f.logit;
      if (core_->has_lm()) {
        const TextNode& parent = texts_[f.parent];
        bool is_unk = false;
        const LmEntry e = core_->lm_lookup(parent.lm_state, f.word, is_unk);
        double s = e.raw;
        if (is_unk && !(hot_ && hot_->knows(f.word))) s += unk_;
        s = s + core_->end_score(e.end_state);
        total += parent.lm + (alpha_ * s * core_->log_base() + beta_);
      }
      if (hot_) {
        const TextNode& parent = texts_[f.parent];
        double hw = parent.hw;
        if (f.word != 0) hw += hot_->advance(parent.hot_state, f.word).second;
        total += hw;
      }
      best = std::max(best, total);
      scored.emplace_back(total, int(i));
    }
    double floor = best + prune_;
    std::vector<std::pair<double, int>> kept;
    for (auto& s : scored)
      if (s.first >= floor) kept.push_back(s);
    sort_top(kept, std::min<size_t>(kept.size(), size_t(beam_width_)));
    std::vector<std::tuple<std::string, double, double>> out;
    for (int i = 0; i < int(kept.size()) && i < beam_width_ && i < n; ++i) {
      const Final& f = finals[kept[i].second];
      out.emplace_back(text_of(f.node), f.logit, kept[i].first);
    }
    return out;
  }

  int64_t frames() const { return frames_; }
  size_t num_texts() const { return texts_.size(); }

 private:
  struct Cand {
    int text, part, last;
    double logit;
  };

  static void sort_top(std::vector<std::pair<double, int>>& v, size_t k) {
    // heapq.nlargest: by score, ties in input order
    auto cmp = [](const std::pair<double, int>& x, const std::pair<double, int>& y) {
      return x.first > y.first || (x.first == y.first && x.second < y.second);
    };
    if (k == 0) {
      v.clear();
    } else if (k < v.size()) {
      std::nth_element(v.begin(), v.begin() + (k - 1), v.end(), cmp);  // a total order: same set as a stable sort
      v.resize(k);
      std::sort(v.begin(), v.end(), cmp);
    } else {
      std::sort(v.begin(), v.end(), cmp);
    }
  }

  int text_child(int text, int word) {
    auto key = pack(uint32_t(text), uint32_t(word));
    if (const int* hit = text_children_.find(key)) return *hit;
    int id = int(texts_.size());
    texts_.push_back(TextNode{text, word});
    text_children_.insert(key, id);
    return id;
  }

  void score_text(int id) {
    TextNode& node = texts_[id];
    if (node.scored) return;
    int parent_id = node.parent;
    if (!texts_[parent_id].scored) score_text(parent_id);
    const TextNode& parent = texts_[parent_id];
    TextNode& n = texts_[id];
    if (core_->has_lm()) {
      bool is_unk = false;
      const LmEntry e = core_->lm_lookup(parent.lm_state, n.word, is_unk);
      double s = e.raw;
      if (is_unk && !(hot_ && hot_->knows(n.word))) s += unk_;  // hotwords are words, known or not
      n.lm = parent.lm + (alpha_ * s * core_->log_base() + beta_);
      n.lm_state = e.end_state;
    }
    if (hot_) {
      auto [state, bonus] = hot_->advance(parent.hot_state, n.word);
      n.hw = parent.hw + bonus;
      n.hot_state = state;
    }
    n.scored = true;
  }

  int tail_of(int id) {
    TextNode& n = texts_[id];
    if (id == 0 || n.tail > 0) return n.tail;
    int pt = tail_of(n.parent);
    std::vector<int> t = tails_[pt];
    t.push_back(n.word);
    if (int(t.size()) > history_n_) t.erase(t.begin(), t.end() - history_n_);
    auto it = tail_ids_.find(t);
    int tid;
    if (it == tail_ids_.end()) {
      tid = int(tails_.size());
      tails_.push_back(t);
      tail_ids_.emplace(std::move(t), tid);
    } else {
      tid = it->second;
    }
    texts_[id].tail = tid;
    return tid;
  }

  std::string text_of(int id) const {
    std::vector<int> words;
    for (int n = id; n > 0; n = texts_[n].parent) words.push_back(texts_[n].word);
    std::string out;
    for (auto it = words.rbegin(); it != words.rend(); ++it) {
      if (!out.empty()) out += ' ';
      out += core_->word(*it);
    }
    return out;
  }

  void step(const float* col, const std::vector<int>& idx) {
    cands_.clear();
    table_.reset(idx.size() * beams_.size());
    for (int label : idx) {
      double p = double(col[label]);
      Kind kind = core_->kind(label);
      for (const Beam& b : beams_) {
        Key3 key;
        if (kind == BLANK || b.last == label) {
          key = Key3{uint32_t(b.text), uint32_t(b.part), uint32_t(label)};
        } else if (kind == CHAR) {
          key = Key3{uint32_t(b.text), uint32_t(core_->child_part(b.part, label)), uint32_t(label)};
        } else {  // SPACE or START: the word being spelled ends
          int text = b.part == 0 ? b.text : text_child(b.text, core_->part_word(b.part));
          int part = kind == START ? core_->start_part(label) : 0;
          key = Key3{uint32_t(text), uint32_t(part), uint32_t(label)};
        }
        size_t slot = 0;
        int at = table_.find(key, slot);
        if (at < 0) {
          table_.insert(slot, key, int(cands_.size()));
          cands_.push_back(Cand{int(key.a), int(key.b), int(key.c), b.logit + p});
        } else {
          cands_[at].logit = logaddexp(cands_[at].logit, b.logit + p);
        }
      }
    }
    scored_.clear();
    double best = NEG_INF;
    const bool lm = core_->has_lm();
    for (size_t i = 0; i < cands_.size(); ++i) {
      const Cand& c = cands_[i];
      double total = c.logit;
      if (lm || hot_) {
        score_text(c.text);
        const TextNode& t = texts_[c.text];
        if (lm) total += t.lm;
        if (hot_) total += t.hw;
        double hp = std::numeric_limits<double>::quiet_NaN();
        if (hot_) {
          hp = hot_->partial(t.hot_state, c.part);
          if (!std::isnan(hp)) total += hp;
        }
        if (lm && c.part != 0 && std::isnan(hp)) total += partial_lm(c.part);
      }
      if (total > best) best = total;
      scored_.emplace_back(total, int(i));
    }
    double floor = best + prune_;
    size_t w = 0;
    for (auto& s : scored_)
      if (s.first >= floor) scored_[w++] = s;
    scored_.resize(w);
    sort_top(scored_, std::min<size_t>(scored_.size(), size_t(beam_width_)));
    beams_.clear();
    if (prune_history_) {
      seen_.reset(scored_.size());
      for (auto& [total, i] : scored_) {
        const Cand& c = cands_[i];
        Key3 h{uint32_t(tail_of(c.text)), uint32_t(c.part), uint32_t(c.last)};
        size_t slot = 0;
        if (seen_.find(h, slot) >= 0) continue;
        seen_.insert(slot, h, 0);
        beams_.push_back(Beam{c.text, c.part, c.last, c.logit, total});
      }
    } else {
      for (auto& [total, i] : scored_) {
        const Cand& c = cands_[i];
        beams_.push_back(Beam{c.text, c.part, c.last, c.logit, total});
      }
    }
  }

  double partial_lm(int part) {
    // pyctcdecode LanguageModel.score_partial_token, same operations
    const PartNode& p = core_->part(part);
    double unk = unk_ * (core_->part_oov(part) ? 1.0 : 0.0);
    if (p.len > 6) unk = unk * p.len / 6;
    return unk;
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<Hotwords> hot_;
  int beam_width_;
  double prune_, token_min_;
  bool prune_history_;
  double alpha_, beta_, unk_;
  int history_n_;
  int64_t frames_ = 0;
  std::vector<TextNode> texts_;
  FlatMap<int> text_children_;
  std::vector<std::vector<int>> tails_;
  std::map<std::vector<int>, int> tail_ids_;
  std::vector<Beam> beams_;
  std::vector<Cand> cands_;
  std::vector<std::pair<double, int>> scored_;
  FrameTable table_, seen_;
};

}  // namespace

PYBIND11_MODULE(ds2ray_prefix_search, m) {
  m.doc() = "Compiled CTC prefix beam search (ds2ray.decode.native)";
  py::class_<Core, std::shared_ptr<Core>>(m, "Core")
      .def(py::init<const std::vector<std::string>&, bool, py::object, py::object, double>(), py::arg("labels"),
           py::arg("word_start"), py::arg("lm"), py::arg("unigrams"), py::arg("log_base"))
      .def("stats", &Core::stats);
  py::class_<Hotwords, std::shared_ptr<Hotwords>>(m, "Hotwords")
      .def(py::init<std::shared_ptr<Core>, const std::vector<std::pair<std::vector<std::string>, double>>&>(),
           py::arg("core"), py::arg("phrases"));
  py::class_<Search>(m, "Search")
      .def(py::init<std::shared_ptr<Core>, std::shared_ptr<Hotwords>, int, double, double, bool, double, double,
                    double, int>(),
           py::arg("core"), py::arg("hotwords"), py::arg("beam_width"), py::arg("beam_prune_logp"),
           py::arg("token_min_logp"), py::arg("prune_history"), py::arg("alpha"), py::arg("beta"),
           py::arg("unk_score_offset"), py::arg("history_n"))
      .def("advance", &Search::advance, py::arg("chunk"))
      .def("best", &Search::best)
      .def("finish", &Search::finish, py::arg("num_beams"))
      .def_property_readonly("frames", &Search::frames)
      .def_property_readonly("num_texts", &Search::num_texts);
}
