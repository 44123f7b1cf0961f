def get_assert(output, context):
    words = output.split()
    return {
        "pass": len(words) >= context["vars"]["min_words"],
        "score": min(1.0, len(words) / 4),
        "reason": "counted",
    }


def exact(output, context):
    return output == context["vars"]["question"]
