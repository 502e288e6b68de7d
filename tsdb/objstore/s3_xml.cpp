#include "tsdb/objstore/s3_xml.h"

#include <algorithm>
#include <pugixml.hpp>

#include "tsdb/base/error.h"

namespace promblock::objstore {

namespace {

bool load(pugi::xml_document& doc, std::string_view xml) {
  return bool(doc.load_buffer(xml.data(), xml.size()));
}

// Text of an XML-safe string: '&', '<', '>' and quotes escaped.
std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

ListPage parse_list_page(std::string_view xml, const std::string& what) {
  pugi::xml_document doc;
  pugi::xml_node root;
  if (!load(doc, xml) || !(root = doc.child("ListBucketResult")))
    fail(what, "listing", "not a ListBucketResult XML document");
  ListPage page;
  for (auto c : root.children("Contents")) {
    std::string size = c.child_value("Size");
    if (!*c.child_value("Key") || size.empty() || size.find_first_not_of("0123456789") != size.npos)
      fail(what, "listing", "a <Contents> entry without a Key or a numeric Size");
    page.objects.push_back({c.child_value("Key"), std::stoull(size)});
  }
  for (auto p : root.children("CommonPrefixes")) page.prefixes.push_back(p.child_value("Prefix"));
  page.truncated = std::string_view(root.child_value("IsTruncated")) == "true";
  page.next_token = root.child_value("NextContinuationToken");
  // A truncated page without a token would make the caller list forever.
  if (page.truncated && page.next_token.empty())
    fail(what, "listing", "IsTruncated without a NextContinuationToken");
  return page;
}

std::optional<S3ErrorBody> parse_error_body(std::string_view xml) {
  pugi::xml_document doc;
  pugi::xml_node root;
  if (xml.empty() || !load(doc, xml) || !(root = doc.child("Error"))) return std::nullopt;
  return S3ErrorBody{root.child_value("Code"), root.child_value("Message")};
}

std::string parse_upload_id(std::string_view xml, const std::string& what) {
  pugi::xml_document doc;
  std::string id;
  if (load(doc, xml)) id = doc.child("InitiateMultipartUploadResult").child_value("UploadId");
  if (id.empty()) fail(what, "POST ?uploads", "answer without an UploadId");
  return id;
}

std::string complete_multipart_xml(const std::vector<std::string>& etags) {
  std::string xml = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i) {
    xml.append("<Part><PartNumber>").append(std::to_string(i + 1)).append("</PartNumber><ETag>");
    xml.append(escape(etags[i])).append("</ETag></Part>");
  }
  return xml + "</CompleteMultipartUpload>";
}

std::string http_text(long status, const std::optional<S3ErrorBody>& err) {
  std::string text = "HTTP " + std::to_string(status);
  if (err && !err->code.empty()) text += " " + err->code;
  if (err && !err->message.empty()) text += ": " + err->message;
  // Errors are one line; a server's message may not be.
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

}  // namespace promblock::objstore
