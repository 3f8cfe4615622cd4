"""Evidence pipeline: every capture goes to the engine's context, which stores it as evidence.

Kept thin on purpose: the WARC writing and hashing live in one place (the context's
evidence recorder), so a capture from any spider is preserved the same way.
"""

from __future__ import annotations

from typing import Any

from spiders.capture import Capture


class EvidencePipeline:
    def __init__(self, crawler: Any = None):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> EvidencePipeline:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        spider = self.crawler.spider if self.crawler is not None else None
        context = getattr(spider, "context", None)
        if context is not None and isinstance(item, Capture):
            save_later = getattr(context, "save_capture_async", None)
            if save_later is not None:  # the engine's context writes off the reactor thread
                await save_later(item)
            else:
                context.save_capture(item)
        return item
