#include "common/yaml_reader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <unordered_map>

namespace meridian {
namespace {

// Follows yaml-cpp's parser events for a whole stream and throws at the first thing the
// header refuses. It builds nothing: it only counts nodes, depth and documents, so it runs in
// time and memory proportional to the text.
class StreamGuard : public YAML::EventHandler {
 public:
  explicit StreamGuard(size_t text_size)
      : max_nodes_(MaxYamlNodes(text_size)), max_documents_(text_size + 1) {}

  // Where the first document after the first one that has content starts, if there is one.
  const YAML::Mark* later_content_document() const {
    return later_content_ ? &later_content_mark_ : nullptr;
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    // Every document consumes at least one token, so the next one starts further on; one
    // starting where the previous did means the parser is stuck on a token no node can take,
    // and YAML::LoadAll would append empty documents until memory runs out.
    if (documents_ > 0 && mark.pos == last_start_.pos) {
      throw YAML::ParserException(
          mark,
          "the YAML parser cannot continue here: this content belongs to no node above "
          "it (check its indentation, or a quote or bracket left open before it)");
    }
    if (++documents_ > max_documents_) {
      throw YAML::ParserException(mark, "more documents than the text could hold");
    }
    last_start_ = mark;
    document_has_content_ = false;
    anchors_.clear();  // anchors are per document
    open_.clear();
  }

  void OnDocumentEnd() override {
    if (document_has_content_ && documents_ > 1 && !later_content_) {
      later_content_ = true;
      later_content_mark_ = last_start_;
    }
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    // A lone null is an empty document (what LoadAll returns for "---" followed by nothing).
    if (!open_.empty()) document_has_content_ = true;
    AddNode(mark, anchor, 1, 0);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    document_has_content_ = true;
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) return;  // yaml-cpp refuses unknown anchors before this event
    if (it->second.open) {
      throw YAML::ParserException(
          mark, "an alias inside the node its anchor names (a cycle) cannot be read");
    }
    AddNode(mark, YAML::NullAnchor, it->second.nodes, it->second.height);
  }

  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    document_has_content_ = true;
    AddNode(mark, anchor, 1, 0);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  // What a node amounts to once aliases are expanded: nodes in it (itself included) and
  // levels below it (0 for a scalar). `open` while its collection is still being read.
  struct Extent {
    size_t nodes = 1;
    int height = 0;
    bool open = false;
  };
  struct OpenCollection {
    YAML::anchor_t anchor;
    Extent extent;
  };

  void CheckDepth(const YAML::Mark& mark, int height) const {
    if (static_cast<int>(open_.size()) + height > kMaxYamlDepth) {
      throw YAML::ParserException(mark, "nesting deeper than " + std::to_string(kMaxYamlDepth) +
                                            " levels" + (height > 0 ? " (aliases expanded)" : ""));
    }
  }

  void Count(const YAML::Mark& mark, size_t nodes) {
    total_nodes_ += nodes;
    if (total_nodes_ > max_nodes_) {
      throw YAML::ParserException(
          mark,
          "the stream expands to more values than its text could hold (aliases repeating "
          "an anchor, \"billion laughs\"); refused");
    }
  }

  // A complete node (scalar, null or alias) at the current position.
  void AddNode(const YAML::Mark& mark, YAML::anchor_t anchor, size_t nodes, int height) {
    CheckDepth(mark, height);
    Count(mark, nodes);
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Extent{nodes, height, false};
    AddToParent(Extent{nodes, height, false});
  }

  void AddToParent(const Extent& child) {
    if (open_.empty()) return;
    Extent& parent = open_.back().extent;
    parent.nodes += child.nodes;
    parent.height = std::max(parent.height, child.height + 1);
  }

  void Open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    document_has_content_ = true;
    CheckDepth(mark, 0);
    Count(mark, 1);
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Extent{1, 0, true};
    open_.push_back({anchor, Extent{}});
  }

  void Close() {
    if (open_.empty()) return;
    const OpenCollection done = open_.back();
    open_.pop_back();
    if (done.anchor != YAML::NullAnchor) anchors_[done.anchor] = done.extent;
    AddToParent(done.extent);
  }

  const size_t max_nodes_;
  const size_t max_documents_;
  size_t total_nodes_ = 0;  // over the whole stream, aliases expanded
  size_t documents_ = 0;
  bool document_has_content_ = false;
  bool later_content_ = false;
  YAML::Mark later_content_mark_;
  YAML::Mark last_start_;
  std::unordered_map<YAML::anchor_t, Extent> anchors_;
  std::vector<OpenCollection> open_;
};

StreamGuard CheckStream(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  StreamGuard guard(text.size());
  while (parser.HandleNextDocument(guard)) {
  }
  return guard;
}

}  // namespace

size_t MaxYamlNodes(size_t text_size) { return 2 * text_size + 1024; }

std::vector<YAML::Node> LoadYamlStream(std::string_view text) {
  const std::string s(text);
  CheckStream(s);
  return YAML::LoadAll(s);
}

YAML::Node LoadYamlDocument(std::string_view text) {
  const std::string s(text);
  const StreamGuard guard = CheckStream(s);
  if (const YAML::Mark* later = guard.later_content_document()) {
    throw YAML::ParserException(*later,
                                "a second document starts here; this file holds one document");
  }
  return YAML::Load(s);
}

}  // namespace meridian
