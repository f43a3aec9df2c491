from pydantic import BaseModel


def as_json(model: BaseModel) -> str:
    return model.model_dump_json(indent=2)
